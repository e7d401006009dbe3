// Tests of cgroup detection and management: parsing and the v2 paths against fake trees, the v1 paths against this machine's real cgroupfs. Never leaves a cgroup behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BoxCgroup,
  CounterFiles,
  cgroupSupport,
  cpuSupport,
  keyedValue,
  ownPidsMax,
  parseCgroupLayout,
  type CgroupLayout,
  type CgroupLimits,
} from '../../src/sandbox/cgroups.js';
import { buildLaunchCommand } from '../../src/sandbox/launch.js';
import { boxCgroupDirs } from '../e2e/box-cgroups.js';

const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n0::/\n';

const V2_MOUNTINFO = `24 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
25 1 0:23 / /proc rw - proc proc rw
`;
const V2_SELF = '0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope\n';

describe('CounterFiles', () => {
  it('re-reads a file in place, and a missing or non-numeric file is null', () => {
    const dir = mkdtempSync(join(tmpdir(), 'counters-'));
    const file = join(dir, 'pids.current');
    writeFileSync(file, '3\n');
    const counters = new CounterFiles();
    expect(counters.read(file)).toBe(3);
    writeFileSync(file, '12\n'); // same inode, new content
    expect(counters.read(file)).toBe(12);
    expect(counters.read(join(dir, 'missing'))).toBeNull();
    writeFileSync(file, 'max\n');
    expect(counters.read(file)).toBeNull();
    counters.close();
    expect(counters.read(file)).toBeNull();
    writeFileSync(file, '5\n');
    expect(counters.read(file)).toBe(5); // reopened after close
    counters.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('parseCgroupLayout', () => {
  it('uses the v1 controller mounts on a hybrid machine whose unified hierarchy has no controllers', () => {
    expect(parseCgroupLayout(HYBRID_MOUNTINFO, HYBRID_SELF, () => [])).toEqual({
      version: 1,
      memoryMount: '/sys/fs/cgroup/memory',
      pidsMount: '/sys/fs/cgroup/pids',
      cpuMount: '/sys/fs/cgroup/cpu',
    });
  });

  it('uses v2 when the unified hierarchy offers the controllers, and finds our own cgroup in it', () => {
    expect(parseCgroupLayout(V2_MOUNTINFO, V2_SELF, () => ['cpuset', 'cpu', 'io', 'memory', 'pids'])).toEqual(
      {
        version: 2,
        mount: '/sys/fs/cgroup',
        ownCgroup: '/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope',
        controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'],
      },
    );
  });

  it('handles co-mounted v1 controllers, escaped mount points and no cgroups at all', () => {
    const comounted = '40 31 0:37 / /sys/fs/cgroup/memory\\040x rw - cgroup cgroup rw,memory,pids\n';
    expect(parseCgroupLayout(comounted, '', () => [])).toEqual({
      version: 1,
      memoryMount: '/sys/fs/cgroup/memory x',
      pidsMount: '/sys/fs/cgroup/memory x',
      cpuMount: null,
    });
    expect(parseCgroupLayout('25 1 0:23 / /proc rw - proc proc rw\n', '', () => [])).toBeNull();
  });

  it("finds the lowest pids.max from this process's pids cgroup up to the root", () => {
    const root = mkdtempSync(join(tmpdir(), 'fake-pids-'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'pids.max'), 'max\n');
    writeFileSync(join(root, 'a', 'pids.max'), '500\n');
    writeFileSync(join(root, 'a', 'b', 'pids.max'), '900\n');
    const v1 = `39 31 0:36 / ${root} rw - cgroup cgroup rw,pids\n`;
    expect(ownPidsMax(v1, '8:pids:/a/b\n4:memory:/x\n')).toBe(500);
    expect(ownPidsMax(v1, '8:pids:/\n')).toBeNull(); // 'max' everywhere: no limit
    const v2 = `24 1 0:22 / ${root} rw - cgroup2 cgroup2 rw\n`;
    expect(ownPidsMax(v2, '0::/a/b\n')).toBe(500);
    expect(ownPidsMax('25 1 0:23 / /proc rw - proc proc rw\n', '0::/\n')).toBeNull();
    rmSync(root, { recursive: true, force: true });
  });

  it('reads flat keyed files', () => {
    expect(keyedValue('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n', 'oom_kill')).toBe(3);
    expect(keyedValue('low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n', 'oom_kill')).toBe(2);
    expect(keyedValue('under_oom 0\n', 'oom_kill')).toBeNull();
  });
});

describe('BoxCgroup on a fake v2 tree', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  const fakeRoot = () => {
    const r = mkdtempSync(join(tmpdir(), 'fake-cgroup2-'));
    roots.push(r);
    writeFileSync(join(r, 'cgroup.subtree_control'), '');
    return r;
  };

  it('creates <mount>/sandbox-mcp/<name>, hands the controllers down and writes the limits', () => {
    const root = fakeRoot();
    const layout: CgroupLayout = {
      version: 2,
      mount: root,
      ownCgroup: '/',
      controllers: ['cpu', 'memory', 'pids'],
    };
    const cg = BoxCgroup.create('s1', { memoryBytes: 256 << 20, pids: 32, cpuQuota: 1.5 }, layout);
    expect(cg).not.toBeNull();
    const dir = join(root, 'sandbox-mcp', 's1');
    expect(cg!.procsFiles()).toEqual([join(dir, 'cgroup.procs')]);
    expect(boxCgroupDirs('s1', layout)).toEqual([dir]); // where the e2e tests look for a box's cgroup
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
    expect(readFileSync(join(root, 'sandbox-mcp', 'cgroup.subtree_control'), 'utf8')).toBe(
      '+memory +pids +cpu',
    );
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(String(256 << 20));
    expect(readFileSync(join(dir, 'pids.max'), 'utf8')).toBe('32');
    expect(cg!.cpuEnforced).toBe(true);
    expect(readFileSync(join(dir, 'cpu.weight'), 'utf8')).toBe('100');
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('150000 100000');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    writeFileSync(join(dir, 'memory.current'), '1234\n');
    writeFileSync(join(dir, 'pids.current'), '5\n');
    expect(cg!.oomKillCount()).toBe(1);
    expect(cg!.memoryCurrent()).toBe(1234);
    expect(cg!.memoryPeak()).toBeNull(); // no memory.peak before 5.19
    expect(cg!.pidsCurrent()).toBe(5);
  });

  it('falls back to our own delegated cgroup, moving our processes to a leaf first', () => {
    const root = fakeRoot();
    // the top level is not ours to write (a directory where the control file should be makes the write fail)
    rmSync(join(root, 'cgroup.subtree_control'));
    mkdirSync(join(root, 'cgroup.subtree_control'));
    const own = join(root, 'user.slice', 'app.scope');
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'cgroup.procs'), '4242\n');
    writeFileSync(join(own, 'cgroup.subtree_control'), '');
    const layout: CgroupLayout = {
      version: 2,
      mount: root,
      ownCgroup: '/user.slice/app.scope',
      controllers: ['memory', 'pids'],
    };
    const cg = BoxCgroup.create('s2', { memoryBytes: 64 << 20, pids: 16 }, layout);
    expect(cg?.procsFiles()).toEqual([join(own, 'sandbox-mcp', 's2', 'cgroup.procs')]);
    expect(boxCgroupDirs('s2', layout)).toEqual([join(own, 'sandbox-mcp', 's2')]);
    expect(readFileSync(join(own, 'sandbox-mcp-server', 'cgroup.procs'), 'utf8')).toBe('4242');
    expect(readFileSync(join(own, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');
  });

  it('returns null when nothing is writable, and cgroupSupport explains how to fix it', () => {
    const root = fakeRoot();
    rmSync(join(root, 'cgroup.subtree_control'));
    mkdirSync(join(root, 'cgroup.subtree_control'));
    const layout: CgroupLayout = { version: 2, mount: root, ownCgroup: '/', controllers: ['memory', 'pids'] };
    expect(BoxCgroup.create('s3', { memoryBytes: 1 << 20, pids: 4 }, layout)).toBeNull();
    const support = cgroupSupport(layout);
    expect(support).toMatchObject({ version: 2, memory: false, pids: false });
    expect(support.reason).toMatch(/Delegate=yes/);
    expect(cgroupSupport(null)).toMatchObject({ version: null, memory: false, pids: false });
  });

  it('goes without a CPU share where the cpu controller is missing, and says so', () => {
    const root = fakeRoot();
    const layout: CgroupLayout = { version: 2, mount: root, ownCgroup: '/', controllers: ['memory', 'pids'] };
    const cg = BoxCgroup.create('s4', { memoryBytes: 64 << 20, pids: 16, cpuQuota: 1 }, layout);
    expect(cg).toMatchObject({ memoryEnforced: true, pidsEnforced: true, cpuEnforced: false });
    expect(existsSync(join(root, 'sandbox-mcp', 's4', 'cpu.weight'))).toBe(false);
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');
    const cpu = cpuSupport(layout);
    expect(cpu.enforced).toBe(false);
    expect(cpu.reason).toMatch(/cpu controller is not available/);
    expect(cpuSupport(null).enforced).toBe(false);
    const v1: CgroupLayout = { version: 1, memoryMount: root, pidsMount: root, cpuMount: null };
    expect(cpuSupport(v1).reason).toMatch(/not mounted/);
  });

  it('rejects names that could escape the sandbox-mcp subtree', () => {
    const layout: CgroupLayout = { version: 2, mount: fakeRoot(), ownCgroup: '/', controllers: ['memory'] };
    for (const bad of ['..', '../x', 'a/b', '', '.hidden'])
      expect(() => BoxCgroup.create(bad, { memoryBytes: 1, pids: 1 }, layout)).toThrow(/invalid cgroup name/);
  });
});

const support = cgroupSupport();

describe.skipIf(!(support.memory && support.pids))('BoxCgroup on this machine', () => {
  const made: BoxCgroup[] = [];
  afterAll(() => Promise.all(made.map((c) => c.destroy())));
  const create = (suffix: string, limits: CgroupLimits = { memoryBytes: 256 << 20, pids: 32 }) => {
    const cg = BoxCgroup.create(`test-${process.pid}-${suffix}`, limits);
    if (cg) made.push(cg);
    return cg;
  };

  it('probes support for real', () => {
    expect(support).toEqual({ version: 1, memory: true, pids: true });
    expect(cpuSupport()).toEqual({ enforced: true, mechanism: 'cpu cgroup (v1, cpu.shares 1024 per box)' });
  });

  it('gives the box a cpu cgroup with its share and quota, which its processes join', async () => {
    const cg = create('cpu', { memoryBytes: 64 << 20, pids: 16, cpuQuota: 0.5 })!;
    const name = `test-${process.pid}-cpu`;
    expect(cg.cpuDir).toBe(`/sys/fs/cgroup/cpu/sandbox-mcp/${name}`);
    expect(cg.procsFiles()).toContain(`/sys/fs/cgroup/cpu/sandbox-mcp/${name}/cgroup.procs`);
    expect(readFileSync(join(cg.cpuDir!, 'cpu.shares'), 'utf8').trim()).toBe('1024');
    expect(readFileSync(join(cg.cpuDir!, 'cpu.cfs_period_us'), 'utf8').trim()).toBe('100000');
    expect(readFileSync(join(cg.cpuDir!, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
    const launch = buildLaunchCommand({
      bwrapPath: '/bin/sh',
      bwrapArgv: ['-c', 'echo ready; exec sleep 60'],
      cgroupProcs: cg.procsFiles(),
      rlimits: { fileSizeBytes: 1 << 20, openFiles: 64 },
    });
    const child = spawn(launch.file, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toMatch(
      new RegExp(`:cpu:/sandbox-mcp/${name}$`, 'm'),
    );
    await cg.destroy();
    expect(existsSync(cg.cpuDir!)).toBe(false);
  });

  it('creates a memory, a pids and a cpu cgroup with the limits written', () => {
    const cg = create('limits');
    expect(cg).not.toBeNull();
    expect(cg!.version).toBe(1);
    expect(cg!.procsFiles()).toEqual([
      `/sys/fs/cgroup/memory/sandbox-mcp/test-${process.pid}-limits/cgroup.procs`,
      `/sys/fs/cgroup/pids/sandbox-mcp/test-${process.pid}-limits/cgroup.procs`,
      `/sys/fs/cgroup/cpu/sandbox-mcp/test-${process.pid}-limits/cgroup.procs`,
    ]);
    expect(readFileSync(join(cg!.memoryDir!, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(
      String(256 << 20),
    );
    expect(readFileSync(join(cg!.pidsDir!, 'pids.max'), 'utf8').trim()).toBe('32');
    expect(cg!.pidsCurrent()).toBe(0);
    expect(cg!.oomKillCount()).toBe(0);
  });

  it('kills every process it holds, then removes itself; destroying twice is fine', async () => {
    const cg = create('kill')!;
    // Read before the processes exist: the counters are kept open and must show the new value after.
    expect(cg.pidsCurrent()).toBe(0);
    const launch = buildLaunchCommand({
      bwrapPath: '/bin/sh',
      bwrapArgv: ['-c', 'sleep 60 & sleep 60 & echo ready; wait'],
      cgroupProcs: cg.procsFiles(),
      rlimits: { fileSizeBytes: 1 << 20, openFiles: 64 },
    });
    const child = spawn(launch.file, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(cg.pids()).toHaveLength(3);
    expect(cg.pidsCurrent()).toBe(3);
    expect(cg.memoryCurrent()).toBeGreaterThan(0);
    await cg.destroy();
    expect(await exited).toBe('SIGKILL');
    expect(existsSync(cg.memoryDir!)).toBe(false);
    expect(existsSync(cg.pidsDir!)).toBe(false);
    await expect(cg.destroy()).resolves.toBeUndefined();
  });

  /** Starts `script` under /bin/sh in the cgroup; resolves once it printed a line, with its exit signal to come. */
  const startIn = async (cg: BoxCgroup, script: string) => {
    const launch = buildLaunchCommand({
      bwrapPath: '/bin/sh',
      bwrapArgv: ['-c', script],
      cgroupProcs: cg.procsFiles(),
      rlimits: { fileSizeBytes: 1 << 20, openFiles: 64 },
    });
    const child = spawn(launch.file, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    return { exited };
  };

  it('waits for killed tasks on timers: other work runs while a cgroup closes, and it ends empty and removed', async () => {
    const cg = create('async-close', { memoryBytes: 1 << 30, pids: 32 })!;
    // Killed tasks are still listed until the kernel has torn them down: the close has to wait for them.
    const hold = `/usr/bin/python3 -c "import time; time.sleep(60)" &`;
    const { exited } = await startIn(cg, `${hold} ${hold} ${hold} sleep 0.3; echo ready; wait`);
    expect(cg.pids().length).toBeGreaterThanOrEqual(4);
    let ranDuring: { dirs: boolean; pids: number } | undefined;
    setImmediate(() => (ranDuring = { dirs: existsSync(cg.memoryDir!), pids: cg.pids().length }));
    const t0 = performance.now();
    await cg.destroy();
    const took = performance.now() - t0;
    // A callback queued as the close began ran before it ended, while the directories were still there.
    expect(ranDuring, `a ${took.toFixed(1)} ms close`).toEqual({
      dirs: true,
      pids: expect.any(Number) as number,
    });
    expect(await exited).toBe('SIGKILL');
    expect(existsSync(cg.memoryDir!)).toBe(false);
    expect(existsSync(cg.pidsDir!)).toBe(false);
  });

  it('a kill asked of a removed cgroup never reaches the next box that took its name', async () => {
    const old = create('reuse')!;
    await startIn(old, 'echo ready; exec sleep 60');
    const late = old.killAll(); // in flight while the cgroup closes
    await old.destroy();
    await late;
    const next = create('reuse')!;
    const { exited: nextExit } = await startIn(next, 'echo ready; exec sleep 60');
    const pids = next.pids();
    expect(pids.length).toBeGreaterThan(0);
    // The old box's kill, asked again after its cgroup was removed (a late exit or timeout does that).
    await old.killAll();
    await new Promise((r) => setTimeout(r, 50));
    expect(next.pids()).toEqual(pids);
    await next.destroy();
    expect(await nextExit).toBe('SIGKILL');
  });

  it('recreating a name left by a crashed run kills its leftovers', async () => {
    const first = BoxCgroup.create(`test-${process.pid}-stale`, { memoryBytes: 64 << 20, pids: 8 })!;
    const launch = buildLaunchCommand({
      bwrapPath: '/bin/sh',
      bwrapArgv: ['-c', 'echo ready; exec sleep 60'],
      cgroupProcs: first.procsFiles(),
      rlimits: { fileSizeBytes: 1 << 20, openFiles: 64 },
    });
    const child = spawn(launch.file, launch.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const second = create('stale', { memoryBytes: 128 << 20, pids: 16 });
    expect(second).not.toBeNull();
    expect(await exited).toBe('SIGKILL');
    expect(second!.pids()).toEqual([]);
    expect(readFileSync(join(second!.pidsDir!, 'pids.max'), 'utf8').trim()).toBe('16');
  });
});
