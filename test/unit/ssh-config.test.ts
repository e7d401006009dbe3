// How an ssh:// engine address resolves through ssh_config files: aliases, the URL's user and port over the
// config's, first value wins across the user's and the system's file, Include and Match, the known_hosts files and
// name, and the refusals (ProxyJump, ProxyCommand, a file that cannot be read or parsed, an unknown token).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSshTarget, type SshTarget } from '../../src/sandbox/docker/ssh-config.js';

const root = mkdtempSync(join(tmpdir(), 'sbx-ssh-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A HOME with this ~/.ssh/config, and a system file of its own (standing for /etc/ssh/ssh_config). */
function setup(user: string, system = '', extra: Record<string, string> = {}) {
  const home = join(root, `home${n++}`);
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'config'), user);
  const etc = join(home, 'etc');
  mkdirSync(etc);
  writeFileSync(join(etc, 'ssh_config'), system);
  for (const [name, text] of Object.entries(extra)) {
    mkdirSync(join(home, name, '..'), { recursive: true });
    writeFileSync(join(home, name), text);
  }
  const files = [
    { path: join(home, '.ssh', 'config'), includeBase: join(home, '.ssh') },
    { path: join(etc, 'ssh_config'), includeBase: etc },
  ];
  const resolve = (url: string, env: NodeJS.ProcessEnv = {}): SshTarget =>
    resolveSshTarget(new URL(url), env, home, files);
  return { home, etc, resolve };
}

describe('an alias in ~/.ssh/config', () => {
  it('gives the HostName, Port, User and IdentityFile, and the host key is looked up under the HostName', () => {
    const { home, resolve } = setup(
      [
        'Host other',
        '  HostName 10.9.9.9',
        'Host sandbox-alias',
        '  HostName 127.0.0.1',
        '  Port 2222',
        '  User deploy',
        '  IdentityFile ~/.ssh/engine_key',
        '  IdentitiesOnly yes',
        '',
      ].join('\n'),
    );
    const t = resolve('ssh://sandbox-alias');
    expect(t).toMatchObject({
      alias: 'sandbox-alias',
      hostname: '127.0.0.1',
      port: 2222,
      user: 'deploy',
      identityFiles: [join(home, '.ssh', 'engine_key')],
      identitiesOnly: true,
      knownHostsName: '[127.0.0.1]:2222',
      lenientHostKeys: null,
    });
    expect(t.knownHostsFiles).toEqual([
      join(home, '.ssh', 'known_hosts'),
      join(home, '.ssh', 'known_hosts2'),
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ]);
  });

  it('Host patterns match the name as given, case and all, and the name connected to is lowercased', () => {
    const { resolve } = setup('Host Engine\n  HostName Box.Example\n');
    expect(resolve('ssh://Engine')).toMatchObject({ hostname: 'box.example', knownHostsName: 'box.example' });
    expect(resolve('ssh://engine').hostname).toBe('engine');
  });

  it("the URL's user and port win over the config's, as ssh's command line does", () => {
    const { resolve } = setup('Host h\n  HostName real.example\n  User cfg\n  Port 2200\n');
    expect(resolve('ssh://me@h:2022')).toMatchObject({
      hostname: 'real.example',
      user: 'me',
      port: 2022,
      knownHostsName: '[real.example]:2022',
    });
  });

  it("the first value wins, the user's file before the system's; IdentityFile adds up", () => {
    const { home, resolve } = setup(
      'Host h\n  Port 2201\n  IdentityFile ~/.ssh/a\nHost *\n  User fromuser\n',
      'Host *\n  Port 2999\n  User fromsystem\n  HostName sys.example\n  IdentityFile ~/.ssh/b\n',
    );
    expect(resolve('ssh://h')).toMatchObject({
      port: 2201,
      user: 'fromuser',
      hostname: 'sys.example',
      identityFiles: [join(home, '.ssh', 'a'), join(home, '.ssh', 'b')],
    });
  });

  it('HostKeyAlias names the host key; UserKnownHostsFile and GlobalKnownHostsFile replace the defaults', () => {
    const { home, resolve } = setup(
      [
        'Host h',
        '  HostName 192.0.2.1',
        '  Port 2222',
        '  HostKeyAlias Engine-Key',
        '  UserKnownHostsFile ~/kh/one %d/kh/%n-%p',
        '  GlobalKnownHostsFile none',
        '',
      ].join('\n'),
    );
    const t = resolve('ssh://h');
    expect(t.knownHostsName).toBe('engine-key');
    expect(t.knownHostsFiles).toEqual([join(home, 'kh', 'one'), join(home, 'kh', 'h-2222')]);
  });

  it('HostName %h and IdentityFile tokens expand; an unknown token is refused naming the directive', () => {
    const { resolve } = setup('Host *.lan\n  HostName %h.example.org\n  IdentityFile /keys/%r@%h-%p\n');
    expect(resolve('ssh://u@box.lan')).toMatchObject({
      hostname: 'box.lan.example.org',
      identityFiles: ['/keys/u@box.lan.example.org-22'],
    });
    const bad = setup('Host h\n  IdentityFile ~/.ssh/%j\n');
    expect(() => bad.resolve('ssh://h')).toThrow(/IdentityFile ~\/\.ssh\/%j: the token %j is not supported/);
  });

  it('no IdentityFile: the default key names under ~/.ssh; IdentityAgent picks the agent socket', () => {
    const { home, resolve } = setup('Host h\n  IdentityAgent ~/agent.sock\nHost n\n  IdentityAgent none\n');
    const t = resolve('ssh://h', { SSH_AUTH_SOCK: '/elsewhere' });
    expect(t.identityFiles).toContain(join(home, '.ssh', 'id_ed25519'));
    expect(t.agent).toBe(join(home, 'agent.sock'));
    expect(resolve('ssh://n', { SSH_AUTH_SOCK: '/elsewhere' }).agent).toBeUndefined();
    expect(resolve('ssh://other', { SSH_AUTH_SOCK: '/elsewhere' }).agent).toBe('/elsewhere');
  });

  it('StrictHostKeyChecking no is noted with its file and line, never applied', () => {
    const { home, resolve } = setup('# engines\nHost h\n  HostName 127.0.0.1\n  StrictHostKeyChecking no\n');
    expect(resolve('ssh://h').lenientHostKeys).toBe(
      `StrictHostKeyChecking no (${join(home, '.ssh', 'config')}:4)`,
    );
    expect(resolve('ssh://other').lenientHostKeys).toBeNull();
  });
});

describe('Include and Match', () => {
  it('Include, relative to ~/.ssh and with a glob, is read in place: its Host blocks apply', () => {
    const { resolve } = setup('Include conf.d/*.conf\nHost *\n  Port 2000\n', '', {
      '.ssh/conf.d/a.conf': 'Host a-host\n  HostName a.example\n  Port 2101\n',
      '.ssh/conf.d/b.conf': 'Host b-host\n  HostName b.example\n',
      '.ssh/conf.d/skip.txt': 'Host *\n  HostName never.example\n',
    });
    expect(resolve('ssh://a-host')).toMatchObject({ hostname: 'a.example', port: 2101 });
    expect(resolve('ssh://b-host')).toMatchObject({ hostname: 'b.example', port: 2000 });
    expect(resolve('ssh://c-host')).toMatchObject({ hostname: 'c-host', port: 2000 });
  });

  it('an Include inside a Host block counts only for that host, and the block goes on after it', () => {
    const { resolve } = setup('Host inner\n  Include extra.conf\n  User after\nHost *\n  User other\n', '', {
      '.ssh/extra.conf': 'Port 2300\nHost inner\n  HostName inner.example\n',
    });
    expect(resolve('ssh://inner')).toMatchObject({ port: 2300, hostname: 'inner.example', user: 'after' });
    expect(resolve('ssh://outer')).toMatchObject({ port: 22, hostname: 'outer', user: 'other' });
  });

  it('Match host and originalhost', () => {
    const { resolve } = setup(
      'Host alias\n  HostName real.example\nMatch originalhost alias\n  User byalias\nMatch host real.example\n  Port 2400\n',
    );
    expect(resolve('ssh://alias')).toMatchObject({ user: 'byalias', port: 2400 });
  });

  it('Match exec never runs a command', () => {
    const marker = join(root, 'exec-ran');
    const { resolve } = setup(`Match exec "touch ${marker}"\n  Port 2500\n`);
    expect(resolve('ssh://h').port).toBe(22);
    expect(() => rmSync(marker)).toThrow();
  });
});

describe('refusals name the directive, the file and the line', () => {
  it('ProxyJump is refused, not bypassed', () => {
    const { home, resolve } = setup('Host jumped\n  HostName 10.0.0.5\n  ProxyJump bastion.example\n');
    expect(() => resolve('ssh://jumped')).toThrow(
      `ProxyJump bastion.example (${join(home, '.ssh', 'config')}:3) is set for jumped`,
    );
    expect(() => resolve('ssh://jumped')).toThrow(/does not connect directly instead/);
  });

  it('ProxyCommand is refused; ProxyCommand none is not a proxy', () => {
    const { resolve } = setup(
      'Host p\n  ProxyCommand ssh -W %h:%p gate\nHost q\n  ProxyCommand none\n  ProxyJump none\n',
    );
    expect(() => resolve('ssh://p')).toThrow(/^ProxyCommand ssh -W %h:%p gate \(.*config:2\) is set for p/);
    expect(resolve('ssh://q').hostname).toBe('q');
  });

  it('a config that cannot be parsed is named with its line', () => {
    const { home, resolve } = setup('Host h\n  User ok\n  IdentityFile "~/.ssh/unterminated\n');
    expect(() => resolve('ssh://h')).toThrow(
      `cannot parse the ssh config file ${join(home, '.ssh', 'config')}, line 3: `,
    );
  });

  it('a config that cannot be read (a folder) is named; an included one too', () => {
    const a = setup('');
    rmSync(join(a.home, '.ssh', 'config'));
    mkdirSync(join(a.home, '.ssh', 'config'));
    expect(() => a.resolve('ssh://h')).toThrow(
      `the ssh config file ${join(a.home, '.ssh', 'config')} is not a regular file`,
    );
    const b = setup('Include /proc/self/mem\n');
    expect(() => b.resolve('ssh://h')).toThrow(/cannot read the ssh config file \/proc\/self\/mem/);
  });

  it('a FIFO named by Include is refused, not read (it would block the server)', () => {
    const { home, resolve } = setup('Include ~/pipe\n');
    execFileSync('mkfifo', [join(home, 'pipe')]);
    expect(() => resolve('ssh://h')).toThrow(
      `the ssh config file ${join(home, 'pipe')} is not a regular file`,
    );
  });

  it('a Port that is not a number is refused', () => {
    const { resolve } = setup('Host h\n  Port ssh\n');
    expect(() => resolve('ssh://h')).toThrow(/Port ssh \(.*config:2\) is not a port number/);
  });

  it('Include that includes itself stops at a depth', () => {
    const { resolve } = setup('Include ~/.ssh/config\n');
    expect(() => resolve('ssh://h')).toThrow(/Include nested more than 16 deep/);
  });
});
