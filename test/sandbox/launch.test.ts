// Tests of the /bin/sh launcher: its argument passing, and by spawning it, the rlimits and cgroup membership it sets up. Never writes outside its temp dir and its own cgroups.
import { spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBwrapArgv, probeHostLayout } from '../../src/sandbox/bwrap-argv.js';
import { BoxCgroup, cgroupSupport } from '../../src/sandbox/cgroups.js';
import { openBindSource } from '../../src/sandbox/bind-source.js';
import { LAUNCH_FAILURE_EXIT, buildLaunchCommand, runLaunchCommand } from '../../src/sandbox/launch.js';
import { stageUnreachableBinds } from '../../src/sandbox/launch-plan.js';

const rlimits = { fileSizeBytes: 1 << 20, openFiles: 64 };
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'launch-test-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('buildLaunchCommand', () => {
  it('passes every path and argument as a positional parameter, never inside the script', () => {
    const cmd = buildLaunchCommand({
      bwrapPath: '/opt/odd path/bwrap',
      bwrapArgv: ['--bind', '/a b', '/c', '--', 'python3', '-c', 'print(1)'],
      cgroupProcs: ['/sys/fs/cgroup/x/cgroup.procs', '/sys/fs/cgroup/y/cgroup.procs'],
      rlimits: { fileSizeBytes: 1000, openFiles: 256 },
    });
    expect(cmd.file).toBe('/bin/sh');
    const [c, script, name, ...rest] = cmd.args;
    expect(c).toBe('-c');
    expect(name).toBe('sandbox-launch');
    for (const s of ['/opt/odd path/bwrap', '/a b', '/sys/fs/cgroup', 'print(1)'])
      expect(script).not.toContain(s);
    // 1000 bytes is one whole 512-byte block
    expect(rest).toEqual([
      '1',
      '256',
      '2',
      '0',
      '-',
      '/sys/fs/cgroup/x/cgroup.procs',
      '/sys/fs/cgroup/y/cgroup.procs',
      '/opt/odd path/bwrap',
      '--bind',
      '/a b',
      '/c',
      '--',
      'python3',
      '-c',
      'print(1)',
    ]);
  });

  it('accepts Infinity for no limit and rejects values that are not whole positive numbers', () => {
    const cmd = buildLaunchCommand({
      bwrapPath: '/b',
      bwrapArgv: [],
      cgroupProcs: [],
      rlimits: { fileSizeBytes: Infinity, openFiles: 8 },
    });
    expect(cmd.args.slice(3, 5)).toEqual(['unlimited', '8']);
    for (const bad of [100, -1, Number.NaN, 1.5e3 + 0.5]) {
      expect(() =>
        buildLaunchCommand({
          bwrapPath: '/b',
          bwrapArgv: [],
          cgroupProcs: [],
          rlimits: { fileSizeBytes: bad, openFiles: 8 },
        }),
      ).toThrow(/fileSizeBytes/);
    }
    expect(() =>
      buildLaunchCommand({
        bwrapPath: '/b',
        bwrapArgv: [],
        cgroupProcs: [],
        rlimits: { fileSizeBytes: 4096, openFiles: 0 },
      }),
    ).toThrow(/openFiles/);
  });
});

describe('the launcher, spawned', () => {
  it('uses dash here, whose ulimit -f counts 512-byte blocks', () => {
    expect(readlinkSync('/bin/sh')).toMatch(/dash$/);
  });

  it('writes its own pid (the pid the command keeps after exec) into each procs file, then sets hard and soft limits', async () => {
    // were the path ever part of the script text, the command substitution would run and print to stderr
    const weird = join(tmp, `procs "$(echo INJECTED >&2)" '; x`);
    writeFileSync(weird, '');
    const cmd = buildLaunchCommand({
      bwrapPath: '/bin/sh',
      bwrapArgv: ['-c', 'echo "pid $$"; cat /proc/self/limits', 'inner'],
      cgroupProcs: [weird, join(tmp, 'second')],
      rlimits: { fileSizeBytes: 3 * 512 * 1024, openFiles: 37 },
    });
    const r = await runLaunchCommand(cmd);
    expect(r.code).toBe(0);
    const pid = /pid (\d+)/.exec(r.stdout)?.[1];
    expect(readFileSync(weird, 'utf8').trim()).toBe(pid);
    expect(readFileSync(join(tmp, 'second'), 'utf8').trim()).toBe(pid);
    expect(r.stdout).toMatch(/Max file size\s+1572864\s+1572864\s+bytes/);
    expect(r.stdout).toMatch(/Max open files\s+37\s+37\s+files/);
    expect(r.stdout).toMatch(/Max address space\s+unlimited\s+unlimited/);
    expect(r.stderr).not.toContain('INJECTED');
  });

  it.skipIf(process.getuid?.() !== 0)(
    'as root, drops to the given uid and gid with no supplementary groups, and starts in / with no PWD',
    async () => {
      const cmd = buildLaunchCommand({
        bwrapPath: '/bin/sh',
        bwrapArgv: ['-c', 'echo "$(id -u) $(id -g) $(id -G) $(pwd) ${PWD-unset}"'],
        cgroupProcs: [],
        rlimits,
        identity: { uid: 64_321, gid: 64_322 },
      });
      const r = await runLaunchCommand(cmd);
      expect(r.code).toBe(0);
      // dash sets PWD again for the new shell, but from / and never the server's folder
      expect(r.stdout.trim()).toBe('64321 64322 64322 / /');
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'as root, stages a bind in a private mount namespace that the host never sees',
    async () => {
      const src = join(tmp, 'stage-src');
      const dst = join(tmp, 'stage-dst');
      mkdirSync(src);
      mkdirSync(dst);
      writeFileSync(join(src, 'f'), 'staged');
      const cmd = buildLaunchCommand({
        bwrapPath: '/bin/cat',
        bwrapArgv: [join(dst, 'f')],
        cgroupProcs: [],
        rlimits,
        stage: [{ source: src, target: dst, identity: openBindSource(src, 64_999).identity }],
      });
      expect(cmd.file).toBe('unshare');
      const r = await runLaunchCommand(cmd);
      expect(r.stdout).toBe('staged');
      expect(existsSync(join(dst, 'f'))).toBe(false);
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'as root, refuses to start when the box swapped the checked folder for a link before the mount',
    async () => {
      const hidden = mkdtempSync(join(tmp, 'swap-'));
      const venv = join(hidden, 'venv');
      const secret = join(hidden, 'secret');
      mkdirSync(venv);
      mkdirSync(secret);
      writeFileSync(join(venv, 'f'), 'the venv');
      writeFileSync(join(secret, 'f'), 'a host secret');
      const dst = join(tmp, 'swap-dst');
      mkdirSync(dst);
      const { options, stage } = stageUnreachableBinds(['--ro-bind', venv, '/opt/venv'], 64_999, 64_999);
      expect(options[1]).not.toBe(venv);
      // the race: between the check and the launcher's mount, the folder becomes a link to somewhere else
      renameSync(venv, join(hidden, 'venv.old'));
      symlinkSync(secret, venv);
      const cmd = buildLaunchCommand({
        bwrapPath: '/bin/cat',
        bwrapArgv: [join(dst, 'f')],
        cgroupProcs: [],
        rlimits,
        stage: stage.map((s) => ({ ...s, target: dst })),
      });
      const r = await runLaunchCommand(cmd);
      expect(r.stdout).not.toContain('a host secret');
      expect(r.code).toBe(LAUNCH_FAILURE_EXIT);
      expect(r.stderr).toMatch(/changed before it was mounted/);
    },
  );

  it('refuses to start the command when it cannot join a cgroup', async () => {
    const marker = join(tmp, 'ran');
    const cmd = buildLaunchCommand({
      bwrapPath: '/usr/bin/touch',
      bwrapArgv: [marker],
      cgroupProcs: [join(tmp, 'missing-dir', 'cgroup.procs')],
      rlimits,
    });
    const r = await runLaunchCommand(cmd);
    expect(r.code).toBe(LAUNCH_FAILURE_EXIT);
    expect(r.stderr).toMatch(/cannot join cgroup/);
    expect(existsSync(marker)).toBe(false);
  });
});

const support = cgroupSupport();

describe.skipIf(!existsSync('/usr/bin/bwrap') || !support.memory)(
  'the launcher with bwrap and a real cgroup',
  () => {
    it('puts bwrap, its reaper and the jailed command into the box cgroups before they run', async () => {
      const cg = BoxCgroup.create(`test-${process.pid}-launch`, { memoryBytes: 256 << 20, pids: 32 })!;
      try {
        const ws = join(tmp, 'ws');
        mkdirSync(ws, { recursive: true });
        const argv = buildBwrapArgv({
          workspace: ws,
          agentDir: ws,
          mplConfigDir: ws,
          command: ['/bin/sh', '-c', 'echo ready; exec sleep 30'],
          env: {},
          network: 'none',
          hostLayout: probeHostLayout(),
        });
        const cmd = buildLaunchCommand({
          bwrapPath: '/usr/bin/bwrap',
          bwrapArgv: argv,
          cgroupProcs: cg.procsFiles(),
          rlimits,
        });
        const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'inherit'] });
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        const pids = cg.pids();
        // bwrap outside, bwrap as pid 1 inside, and sleep
        expect(pids).toHaveLength(3);
        expect(pids).toContain(child.pid);
        for (const pid of pids) {
          const self = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
          expect(self).toContain(`memory:/sandbox-mcp/test-${process.pid}-launch`);
          expect(self).toContain(`pids:/sandbox-mcp/test-${process.pid}-launch`);
        }
        // "ready" is printed before the shell execs sleep: wait for the exec
        const names = (): string[] => pids.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()).sort();
        await expect.poll(names, { timeout: 5000, interval: 20 }).toEqual(['bwrap', 'bwrap', 'sleep']);
        await cg.killAll();
        await exited;
        expect(readdirSync(cg.memoryDir!)).toContain('cgroup.procs');
      } finally {
        await cg.destroy();
      }
    });
  },
);

describe('stageUnreachableBinds', () => {
  it('refuses a bind source that is a symbolic link (a box-planted link must not pull a host folder in)', () => {
    const hidden = mkdtempSync(join(tmp, 'hidden-'));
    const link = join(hidden, 'venv');
    symlinkSync('/etc', link);
    lchownSync(link, 64_999, 64_999);
    // 0700 and root-owned: unreachable for the box uid, so it would be staged by root
    expect(() => stageUnreachableBinds(['--ro-bind', link, '/opt/venv'], 64_999, 64_999)).toThrow(
      /symbolic link/,
    );
  });

  it.skipIf(process.getuid?.() !== 0)(
    'refuses a source whose folder on the way was swapped for a link by the box uid',
    () => {
      const hidden = mkdtempSync(join(tmp, 'hidden-'));
      const ws = join(hidden, 'ws');
      mkdirSync(ws);
      chownSync(ws, 64_999, 64_999);
      // the box owns its workspace: it replaces a folder on the source's path with a link to a host folder
      symlinkSync('/etc', join(ws, 'app'));
      lchownSync(join(ws, 'app'), 64_999, 64_999);
      expect(() =>
        stageUnreachableBinds(['--ro-bind', join(ws, 'app', 'ssl'), '/opt/venv'], 64_999, 64_999),
      ).toThrow(/symbolic link the box could have made/);
    },
  );

  it.skipIf(process.getuid?.() !== 0)('follows a link only root could have made', () => {
    const hidden = mkdtempSync(join(tmp, 'hidden-'));
    mkdirSync(join(hidden, 'real'));
    symlinkSync('real', join(hidden, 'alias'));
    const { stage } = stageUnreachableBinds(['--ro-bind', join(hidden, 'alias'), '/opt/x'], 64_999, 64_999);
    const st = statSync(join(hidden, 'real'));
    expect(stage.map((s) => s.identity)).toEqual([`${st.dev}:${st.ino}`]);
  });
});
