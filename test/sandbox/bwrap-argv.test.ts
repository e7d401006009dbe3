// Unit tests of the bubblewrap argv builder (no spawning); they must never depend on the host's real layout except in the probe test.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import {
  BOX_PATH,
  boxEnvironment,
  buildBwrapArgv,
  buildBwrapParts,
  probeHostLayout,
  syntheticEtcContents,
  type BoxSpec,
  type HostLayout,
} from '../../src/sandbox/bwrap-argv.js';

const layout: HostLayout = {
  rootSymlinks: [
    { path: '/bin', target: 'usr/bin' },
    { path: '/lib', target: 'usr/lib' },
    { path: '/lib64', target: 'usr/lib64' },
  ],
  rootDirs: [],
  // a probe could report anything that exists; the builder must filter it
  etcEntries: [
    'ld.so.cache',
    'localtime',
    'alternatives',
    'resolv.conf',
    'hosts',
    'shadow',
    'ssl/private',
    'sudoers',
  ],
  disableUserns: true,
  syntheticEtcDir: '/run/sbx/etc',
  procEntries: ['sys', 'kcore', 'keys', 'acpi', 'sysrq-trigger'],
};

function spec(over: Partial<BoxSpec> = {}): BoxSpec {
  return {
    workspace: '/data/sessions/s1/workspace',
    agentDir: '/srv/agent',
    mplConfigDir: '/data/mpl',
    command: ['/usr/bin/python3', '/opt/sandbox-agent/agent.py'],
    env: {},
    network: 'none',
    hostLayout: layout,
    ...over,
  };
}

/** [src, dest] of every occurrence of a two-argument option, before the `--` separator. */
function pairs(argv: string[], opt: string): [string, string][] {
  const end = argv.indexOf('--');
  const out: [string, string][] = [];
  for (let i = 0; i < end; i++) if (argv[i] === opt) out.push([argv[i + 1]!, argv[i + 2]!]);
  return out;
}

function options(argv: string[]): string[] {
  return argv.slice(0, argv.indexOf('--'));
}

describe('buildBwrapArgv', () => {
  it('ends with -- and the command, untouched even when it looks like options', () => {
    const argv = buildBwrapArgv(spec({ command: ['/usr/bin/python3', '--bind', '/', '/x'] }));
    expect(argv.slice(argv.indexOf('--'))).toEqual(['--', '/usr/bin/python3', '--bind', '/', '/x']);
  });

  it('unshares every namespace and drops identity and capabilities', () => {
    const opts = options(buildBwrapArgv(spec()));
    for (const flag of [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-net',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
    ]) {
      expect(opts).toContain(flag);
    }
    for (const flag of ['--die-with-parent', '--new-session', '--clearenv', '--disable-userns'])
      expect(opts).toContain(flag);
    expect(pairs(opts.concat('--'), '--uid')[0]?.[0]).toBe('1000');
    expect(pairs(opts.concat('--'), '--gid')[0]?.[0]).toBe('1000');
    expect(opts.join(' ')).toContain('--cap-drop ALL');
    expect(opts.join(' ')).toContain('--hostname sandbox');
    expect(opts.join(' ')).toContain('--chdir /workspace');
  });

  it('keeps the host network only when asked, and then brings its resolver files', () => {
    const none = buildBwrapArgv(spec());
    const host = buildBwrapArgv(spec({ network: 'host' }));
    expect(options(none)).toContain('--unshare-net');
    expect(options(host)).not.toContain('--unshare-net');
    expect(pairs(none, '--ro-bind')).not.toContainEqual(['/etc/resolv.conf', '/etc/resolv.conf']);
    expect(pairs(host, '--ro-bind')).toContainEqual(['/etc/resolv.conf', '/etc/resolv.conf']);
    // offline the box gets the synthetic hosts file, online the host's
    expect(pairs(none, '--ro-bind')).toContainEqual(['/run/sbx/etc/hosts', '/etc/hosts']);
    expect(pairs(host, '--ro-bind')).toContainEqual(['/etc/hosts', '/etc/hosts']);
    expect(pairs(host, '--ro-bind')).not.toContainEqual(['/run/sbx/etc/hosts', '/etc/hosts']);
  });

  it('assembles a minimal root: /usr, merged-usr symlinks, public /etc files, never /, /etc or secrets', () => {
    const argv = buildBwrapArgv(spec());
    const ro = pairs(argv, '--ro-bind');
    expect(ro).toContainEqual(['/usr', '/usr']);
    expect(pairs(argv, '--symlink')).toEqual([
      ['usr/bin', '/bin'],
      ['usr/lib', '/lib'],
      ['usr/lib64', '/lib64'],
    ]);
    expect(ro).toContainEqual(['/etc/ld.so.cache', '/etc/ld.so.cache']);
    expect(ro).toContainEqual(['/run/sbx/etc/passwd', '/etc/passwd']);
    expect(ro).toContainEqual(['/run/sbx/etc/group', '/etc/group']);
    const sources = [...ro, ...pairs(argv, '--bind')].map(([src]) => src);
    for (const forbidden of [
      '/',
      '/etc',
      '/etc/shadow',
      '/etc/ssl/private',
      '/etc/sudoers',
      '/etc/passwd',
      '/root',
      '/home',
    ]) {
      expect(sources).not.toContain(forbidden);
    }
  });

  it('binds only the paths the spec names, with the right access', () => {
    const argv = buildBwrapArgv(
      spec({
        extraRoBinds: [{ host: '/srv/wheels', box: '/opt/wheels' }],
        extraRwBinds: [{ host: '/run/proxy.sock', box: '/run/proxy.sock' }],
      }),
    );
    expect(pairs(argv, '--bind')).toEqual([
      ['/data/sessions/s1/workspace', '/workspace'],
      ['/data/mpl', '/opt/mplconfig'],
      ['/run/proxy.sock', '/run/proxy.sock'],
    ]);
    const ro = pairs(argv, '--ro-bind');
    expect(ro).toContainEqual(['/srv/agent', '/opt/sandbox-agent']);
    expect(ro).toContainEqual(['/srv/wheels', '/opt/wheels']);
    const hostSources = ro
      .map(([src]) => src)
      .filter((s) => !s.startsWith('/etc/') && !s.startsWith('/run/sbx/etc/'));
    expect(hostSources.filter((s) => !s.startsWith('/proc/') && s !== '/dev/null').sort()).toEqual([
      '/srv/agent',
      '/srv/wheels',
      '/usr',
    ]);
    expect(options(argv).join(' ')).toContain('--proc /proc');
    expect(options(argv).join(' ')).toContain('--dev /dev --tmpfs /tmp');
  });

  it('makes /proc/sys read-only and masks the global /proc entries the probe found', () => {
    const argv = buildBwrapArgv(spec());
    const ro = pairs(argv, '--ro-bind');
    expect(ro).toContainEqual(['/proc/sys', '/proc/sys']);
    expect(ro).toContainEqual(['/dev/null', '/proc/kcore']);
    expect(ro).toContainEqual(['/dev/null', '/proc/keys']);
    expect(ro).toContainEqual(['/dev/null', '/proc/sysrq-trigger']);
    expect(pairs(argv, '--tmpfs')).toContainEqual(['/proc/acpi', '--remount-ro']);
    // entries this kernel lacks are not named (bwrap would fail on a missing mount point)
    expect(argv).not.toContain('/proc/timer_list');
    // every cover comes after the fresh procfs it covers
    const proc = argv.indexOf('--proc');
    expect(argv.indexOf('/proc/sys')).toBeGreaterThan(proc);
  });

  it('splits options from the command so the options can travel through a descriptor', () => {
    const parts = buildBwrapParts(spec({ env: { X: '--' } }));
    expect(parts.command).toEqual(['/usr/bin/python3', '/opt/sandbox-agent/agent.py']);
    expect(parts.options).toContain('--unshare-user');
    expect(parts.options).not.toContain('/usr/bin/python3');
    expect(buildBwrapArgv(spec({ env: { X: '--' } }))).toEqual([...parts.options, '--', ...parts.command]);
  });

  it('remounts the root read-only after every mount and before the command', () => {
    const argv = buildBwrapArgv(spec({ extraRwBinds: [{ host: '/a', box: '/b' }] }));
    const remount = argv.findIndex((a, i) => a === '--remount-ro' && argv[i + 1] === '/');
    expect(remount).toBeGreaterThan(0);
    const lastMount = Math.max(
      ...argv.map((a, i) =>
        ['--bind', '--ro-bind', '--symlink', '--tmpfs', '--proc', '--dev'].includes(a) ? i : -1,
      ),
    );
    expect(remount).toBeGreaterThan(lastMount);
    expect(remount).toBeLessThan(argv.indexOf('--'));
  });

  it('sets exactly the allowlisted environment plus the extras', () => {
    const argv = buildBwrapArgv(spec({ env: { PYTHONUNBUFFERED: '1', LANG: 'en_US.UTF-8' } }));
    const env = Object.fromEntries(
      argv
        .flatMap((a, i) => (a === '--setenv' ? [[argv[i + 1]!, argv[i + 2]!] as const] : []))
        .filter(([k]) => k !== undefined),
    );
    expect(env).toEqual({
      PATH: BOX_PATH,
      HOME: '/workspace',
      USER: 'sandbox',
      LOGNAME: 'sandbox',
      LANG: 'en_US.UTF-8',
      TMPDIR: '/tmp',
      MPLCONFIGDIR: '/opt/mplconfig',
      MPLBACKEND: 'Agg',
      SANDBOX_IN_BOX: '1',
      SANDBOX_WORKSPACE: '/workspace',
      PYTHONUNBUFFERED: '1',
    });
    expect(argv.indexOf('--clearenv')).toBeLessThan(argv.indexOf('--setenv'));
  });

  it('passes the seccomp fd and rejects fds that are stdio', () => {
    expect(options(buildBwrapArgv(spec({ seccompFd: 3 }))).join(' ')).toContain('--seccomp 3');
    expect(options(buildBwrapArgv(spec()))).not.toContain('--seccomp');
    expect(() => buildBwrapArgv(spec({ seccompFd: 1 }))).toThrow(SandboxError);
  });

  it('follows the host layout: unmerged /usr dirs are bound, no --disable-userns on old bwrap, no synthetic etc when absent', () => {
    const argv = buildBwrapArgv(
      spec({
        hostLayout: {
          rootSymlinks: [],
          rootDirs: ['/bin', '/lib'],
          etcEntries: [],
          disableUserns: false,
          syntheticEtcDir: null,
          procEntries: [],
        },
      }),
    );
    expect(pairs(argv, '--ro-bind')).toEqual([
      ['/usr', '/usr'],
      ['/bin', '/bin'],
      ['/lib', '/lib'],
      ['/srv/agent', '/opt/sandbox-agent'],
    ]);
    expect(argv).not.toContain('--symlink');
    expect(argv).not.toContain('--disable-userns');
  });

  it('rejects relative or escaping paths, bad env names, NUL bytes and an empty command', () => {
    expect(() => buildBwrapArgv(spec({ workspace: 'relative/ws' }))).toThrow(/absolute/);
    expect(() => buildBwrapArgv(spec({ workspace: '/data/../etc' }))).toThrow(/absolute/);
    expect(() => buildBwrapArgv(spec({ extraRoBinds: [{ host: '/x', box: 'y' }] }))).toThrow(SandboxError);
    expect(() => buildBwrapArgv(spec({ env: { 'A=B': 'x' } }))).toThrow(/environment variable name/);
    expect(() => buildBwrapArgv(spec({ env: { A: 'x\0y' } }))).toThrow(/NUL/);
    expect(() => buildBwrapArgv(spec({ command: [] }))).toThrow(/command/);
    expect(() => buildBwrapArgv(spec({ command: ['/usr/bin/python3', 'a\0b'] }))).toThrow(/NUL/);
  });

  it('is pure: equal specs give equal argv and the spec is not modified', () => {
    const s = spec({ env: { A: '1' } });
    const copy = structuredClone(s);
    expect(buildBwrapArgv(s)).toEqual(buildBwrapArgv(copy));
    expect(s).toEqual(copy);
  });

  it('lets extras override allowlisted defaults but keeps the rest', () => {
    expect(boxEnvironment({ HOME: '/tmp' }).HOME).toBe('/tmp');
    expect(boxEnvironment({}).SANDBOX_IN_BOX).toBe('1');
  });
});

describe('probeHostLayout', () => {
  it('describes this host and writes the synthetic identity files', () => {
    const probed = probeHostLayout();
    expect(probed.etcEntries).toContain('ld.so.cache');
    expect(probed.etcEntries).not.toContain('shadow');
    expect(probed.etcEntries).not.toContain('passwd');
    // Debian 12 is merged-/usr
    expect(probed.rootSymlinks).toContainEqual({ path: '/bin', target: 'usr/bin' });
    expect(probed.syntheticEtcDir).not.toBeNull();
    const passwd = readFileSync(`${probed.syntheticEtcDir}/passwd`, 'utf8');
    expect(passwd).toBe(syntheticEtcContents().passwd);
    expect(passwd).toMatch(/^sandbox:x:1000:1000:/m);
    expect(passwd).not.toMatch(/\$/); // no hashes, obviously
  });
});
