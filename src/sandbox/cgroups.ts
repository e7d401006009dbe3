// Per-box memory, process-count and CPU-share limits through cgroups (v2, or v1 where that is what the machine has); it must never touch cgroups outside its own sandbox-mcp subtree nor kill a process it did not put there.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SandboxError } from '../errors.js';

export type CgroupVersion = 1 | 2;

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** CPUs' worth of time the box may use per period (1.5 = one and a half CPUs); absent or 0: no quota, only the share. */
  cpuQuota?: number | undefined;
  /** true: the lowest CPU share until foreground() (a warm-pool box starting and preloading ahead of any session). */
  background?: boolean | undefined;
}

/**
 * Every box gets the same CPU share (v1 cpu.shares, v2 cpu.weight: the kernel's defaults, written explicitly), so
 * the scheduler divides busy CPUs between boxes, not between processes: a box running 200 busy processes gets no
 * more than one running a single one.
 */
export const CPU_SHARES_V1 = 1024;
export const CPU_WEIGHT_V2 = 100;
/** The share of a box started in the background: the lowest each version takes, so it runs on CPU no box wants. */
export const BACKGROUND_CPU_SHARES_V1 = 2;
export const BACKGROUND_CPU_WEIGHT_V2 = 1;
const CPU_PERIOD_US = 100_000;

/** Whether boxes get a CPU share of their own here, and if not, why. */
export interface CpuSupport {
  enforced: boolean;
  mechanism: string;
  reason?: string;
}

export interface CgroupSupport {
  version: CgroupVersion | null;
  memory: boolean;
  pids: boolean;
  reason?: string;
}

/** Where the hierarchies are mounted and where this process sits in them. */
export type CgroupLayout =
  | { version: 2; mount: string; ownCgroup: string; controllers: string[] }
  | { version: 1; memoryMount: string | null; pidsMount: string | null; cpuMount: string | null };

export const CGROUP_PARENT = 'sandbox-mcp';

const FIX_HINT =
  'run the server as root, or under a delegated cgroup: ' +
  '`systemd-run --user --scope -p Delegate=yes sandbox-mcp ...` (cgroup v2), ' +
  'or add a Delegate=yes to its systemd unit';

interface Mount {
  mountPoint: string;
  root: string;
  fsType: string;
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    const root = pre[3];
    const mountPoint = pre[4];
    const fsType = post[0];
    if (root === undefined || mountPoint === undefined || fsType === undefined) continue;
    mounts.push({
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
      fsType,
      superOptions: (post[2] ?? '').split(','),
    });
  }
  return mounts;
}

/** This process's cgroup path inside the hierarchy a mount shows, or '/' when the mount does not contain it. */
function pathWithinMount(cgroupPath: string, mountRoot: string): string {
  if (mountRoot === '/') return cgroupPath;
  if (cgroupPath === mountRoot) return '/';
  if (cgroupPath.startsWith(mountRoot + '/')) return cgroupPath.slice(mountRoot.length);
  return '/';
}

/**
 * Picks the hierarchy that holds the memory controller: v2 when the unified mount offers it (pure v2, or
 * hybrid with controllers moved over), else the v1 per-controller mounts. Pure: takes the two /proc files.
 */
export function parseCgroupLayout(
  mountinfo: string,
  procSelfCgroup: string,
  v2Controllers: (mount: string) => string[],
): CgroupLayout | null {
  const mounts = parseMountinfo(mountinfo);
  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  if (unified) {
    const controllers = v2Controllers(unified.mountPoint);
    if (controllers.includes('memory') || controllers.includes('pids')) {
      const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
      const own = pathWithinMount(line ? line.slice(3) : '/', unified.root);
      return { version: 2, mount: unified.mountPoint, ownCgroup: own, controllers };
    }
  }
  const v1 = (controller: string): string | null =>
    mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller))?.mountPoint ?? null;
  const memoryMount = v1('memory');
  const pidsMount = v1('pids');
  if (memoryMount === null && pidsMount === null) return null;
  return { version: 1, memoryMount, pidsMount, cpuMount: v1('cpu') };
}

function readControllers(mount: string): string[] {
  try {
    return readFileSync(join(mount, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

export function detectCgroupLayout(): CgroupLayout | null {
  let mountinfo: string;
  let self: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    self = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return null;
  }
  return parseCgroupLayout(mountinfo, self, readControllers);
}

let hostLayout: CgroupLayout | null | undefined;

/**
 * The layout as this process found it at its first box: read once, because under a delegated v2 cgroup the first
 * create() moves the server into a leaf, and a layout read after that would nest every later box one level deeper.
 */
export function hostCgroupLayout(): CgroupLayout | null {
  if (hostLayout === undefined) hostLayout = detectCgroupLayout();
  return hostLayout;
}

/**
 * The lowest pids.max from this process's pids cgroup up to the root of the hierarchy it sees (a container's
 * limit, a systemd unit's TasksMax), or null when none is set. Pure apart from reading the pids.max files.
 */
export function ownPidsMax(
  mountinfo = readText('/proc/self/mountinfo') ?? '',
  procSelfCgroup = readText('/proc/self/cgroup') ?? '',
): number | null {
  const mounts = parseMountinfo(mountinfo);
  const lines = procSelfCgroup.split('\n');
  const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('pids'));
  const mount = v1 ?? mounts.find((m) => m.fsType === 'cgroup2');
  const line = v1
    ? lines.find((l) => (l.split(':')[1] ?? '').split(',').includes('pids'))
    : lines.find((l) => l.startsWith('0::'));
  if (mount === undefined || line === undefined) return null;
  let path = pathWithinMount(line.split(':').slice(2).join(':'), mount.root);
  let lowest: number | null = null;
  for (;;) {
    const max = readNumber(join(mount.mountPoint, path, 'pids.max'));
    if (max !== null && max > 0) lowest = lowest === null ? max : Math.min(lowest, max);
    if (path === '/' || path === '') return lowest;
    path = dirname(path);
  }
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readNumber(path: string): number | null {
  const text = readText(path);
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/**
 * Single-number cgroup files kept open and read with pread at offset 0, which makes the kernel render them
 * afresh: one syscall per read instead of open, fstat, read and close.
 */
export class CounterFiles {
  private readonly fds = new Map<string, number>();
  private readonly buf = Buffer.alloc(64);

  read(path: string): number | null {
    let fd = this.fds.get(path);
    try {
      if (fd === undefined) {
        fd = openSync(path, 'r');
        this.fds.set(path, fd);
      }
      const n = readSync(fd, this.buf, 0, this.buf.length, 0);
      const value = Number(this.buf.toString('latin1', 0, n).trim());
      return n > 0 && Number.isFinite(value) ? value : null;
    } catch {
      return null;
    }
  }

  close(): void {
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.clear();
  }
}

/** The value of `key N` in a flat-keyed cgroup file (memory.events, memory.oom_control, memory.stat). */
export function keyedValue(text: string, key: string): number | null {
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return Number(v);
  }
  return null;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function mkdirIfMissing(path: string): void {
  try {
    mkdirSync(path);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
  }
}

function enableControllers(dir: string, wanted: string[]): void {
  const current = (readText(join(dir, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
  const missing = wanted.filter((c) => !current.includes(c));
  if (missing.length > 0)
    writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

function listPids(procsFile: string): number[] {
  const text = readText(procsFile);
  if (text === null) return [];
  return text
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * v2 parent for box cgroups: `<mount>/sandbox-mcp` when we may write at the top (root), otherwise inside our own
 * delegated cgroup. There the no-internal-processes rule forces our own processes into a leaf before the
 * controllers can be handed down.
 */
function prepareV2Parent(layout: Extract<CgroupLayout, { version: 2 }>, controllers: string[]): string {
  const attempts: string[] = [];
  const tryTop = (): string => {
    const top = join(layout.mount, CGROUP_PARENT);
    enableControllers(layout.mount, controllers);
    mkdirIfMissing(top);
    enableControllers(top, controllers);
    return top;
  };
  const tryDelegated = (): string => {
    const own = join(layout.mount, layout.ownCgroup);
    const handedDown = (readText(join(own, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
    if (!controllers.every((c) => handedDown.includes(c))) {
      const leaf = join(own, `${CGROUP_PARENT}-server`);
      mkdirIfMissing(leaf);
      for (let round = 0; round < 10; round++) {
        const pids = listPids(join(own, 'cgroup.procs'));
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            writeFileSync(join(leaf, 'cgroup.procs'), String(pid));
          } catch (err) {
            // exited meanwhile
            if (errnoOf(err) !== 'ESRCH') throw err;
          }
        }
      }
      enableControllers(own, controllers);
    }
    const parent = join(own, CGROUP_PARENT);
    mkdirIfMissing(parent);
    enableControllers(parent, controllers);
    return parent;
  };
  for (const [what, attempt] of [
    ['top level', tryTop],
    ['own delegated cgroup', tryDelegated],
  ] as const) {
    if (what === 'own delegated cgroup' && (layout.ownCgroup === '/' || layout.ownCgroup === '')) continue;
    try {
      return attempt();
    } catch (err) {
      attempts.push(`${what}: ${(err as Error).message}`);
    }
  }
  throw new Error(attempts.join('; '));
}

interface BoxDirs {
  version: CgroupVersion;
  memoryDir: string | null;
  pidsDir: string | null;
  cpuDir: string | null;
}

function writeLimits(dirs: BoxDirs, limits: CgroupLimits): void {
  const memory = String(Math.floor(limits.memoryBytes));
  const pids = String(Math.floor(limits.pids));
  if (dirs.version === 2 && dirs.memoryDir !== null) {
    writeFileSync(join(dirs.memoryDir, 'memory.max'), memory);
    // swap would let a box exceed its memory budget invisibly and slow the whole host
    if (existsSync(join(dirs.memoryDir, 'memory.swap.max')))
      writeFileSync(join(dirs.memoryDir, 'memory.swap.max'), '0');
  }
  if (dirs.version === 1 && dirs.memoryDir !== null) {
    writeFileSync(join(dirs.memoryDir, 'memory.limit_in_bytes'), memory);
    // memsw must be >= the memory limit, hence written second; absent when the kernel has swap accounting off
    if (existsSync(join(dirs.memoryDir, 'memory.memsw.limit_in_bytes'))) {
      writeFileSync(join(dirs.memoryDir, 'memory.memsw.limit_in_bytes'), memory);
    } else {
      try {
        writeFileSync(join(dirs.memoryDir, 'memory.swappiness'), '0');
      } catch {
        // best effort only: the limit still holds for resident memory
      }
    }
  }
  if (dirs.pidsDir !== null) writeFileSync(join(dirs.pidsDir, 'pids.max'), pids);
}

/** The box's CPU share, and its quota when one is set. */
function writeCpu(version: CgroupVersion, dir: string, limits: CgroupLimits): void {
  const quota =
    limits.cpuQuota !== undefined && limits.cpuQuota > 0 ? Math.round(limits.cpuQuota * CPU_PERIOD_US) : null;
  writeShare(version, dir, limits.background === true);
  if (version === 2) {
    if (quota !== null) writeFileSync(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
    return;
  }
  if (quota !== null) {
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
  }
}

function writeShare(version: CgroupVersion, dir: string, background: boolean): void {
  if (version === 2)
    writeFileSync(join(dir, 'cpu.weight'), String(background ? BACKGROUND_CPU_WEIGHT_V2 : CPU_WEIGHT_V2));
  else writeFileSync(join(dir, 'cpu.shares'), String(background ? BACKGROUND_CPU_SHARES_V1 : CPU_SHARES_V1));
}

/** One rmdir of a box directory: true when it is gone; false while killed tasks are still exiting (EBUSY). */
function rmdirOnce(dir: string, attempt: number): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return true;
    if (code !== 'EBUSY' || attempt >= 100) throw err;
    return false;
  }
}

function removeDir(dir: string): void {
  for (let attempt = 0; !rmdirOnce(dir, attempt); attempt++) sleepSync(10);
}

/** removeDir that waits on a timer, so the event loop serves everyone else meanwhile. */
async function removeDirAsync(dir: string): Promise<void> {
  for (let attempt = 0; !rmdirOnce(dir, attempt); attempt++) await delay(10);
}

/** Unified mounts where handing the cpu controller down failed once: later boxes go without it, not retrying. */
const v2CpuRefused = new Set<string>();

/**
 * Hands the cpu controller down to the boxes' parent, after memory and pids have found it: asked for apart from them
 * so that a refusal (it is not delegated, or a realtime process sits outside the root cgroup) never costs those.
 */
function handDownCpu(
  layout: Extract<CgroupLayout, { version: 2 }>,
  parent: string,
  wanted: string[],
): boolean {
  if (!layout.controllers.includes('cpu') || v2CpuRefused.has(layout.mount)) return false;
  const above = parent === join(layout.mount, CGROUP_PARENT) ? layout.mount : dirname(parent);
  try {
    for (const dir of [above, parent]) enableControllers(dir, [...wanted, 'cpu']);
    return true;
  } catch {
    v2CpuRefused.add(layout.mount);
    return false;
  }
}

function resolveDirs(layout: CgroupLayout, name: string): BoxDirs {
  if (layout.version === 2) {
    const wanted = ['memory', 'pids'].filter((c) => layout.controllers.includes(c));
    const parent = prepareV2Parent(layout, wanted);
    const dir = join(parent, name);
    return {
      version: 2,
      memoryDir: wanted.includes('memory') ? dir : null,
      pidsDir: wanted.includes('pids') ? dir : null,
      cpuDir: handDownCpu(layout, parent, wanted) ? dir : null,
    };
  }
  const under = (mount: string | null): string | null => {
    if (mount === null) return null;
    mkdirIfMissing(join(mount, CGROUP_PARENT));
    return join(mount, CGROUP_PARENT, name);
  };
  const memoryDir = under(layout.memoryMount);
  const pidsDir = under(layout.pidsMount);
  let cpuDir: string | null = null;
  try {
    cpuDir = under(layout.cpuMount);
  } catch {
    // no cpu share then; the memory and pids limits do not depend on it
  }
  return { version: 1, memoryDir, pidsDir, cpuDir };
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function dirsOf(dirs: BoxDirs): string[] {
  return [...new Set([dirs.memoryDir, dirs.pidsDir, dirs.cpuDir])].filter((d): d is string => d !== null);
}

function procsFilesOf(dirs: BoxDirs): string[] {
  return dirsOf(dirs).map((d) => join(d, 'cgroup.procs'));
}

function pidsOf(dirs: BoxDirs): number[] {
  return [...new Set(procsFilesOf(dirs).flatMap(listPids))];
}

/** Rounds of SIGKILL before giving up on a task that will not leave, and the pause after round `round`. */
const KILL_ROUNDS = 200;
const killPause = (round: number) => (round < 10 ? 2 : 10);

/** cgroup.kill (v2, 5.14+) kills every task at once; false when the cgroup is already gone. */
function writeCgroupKill(dirs: BoxDirs): boolean {
  const v2Dir = dirs.version === 2 ? (dirs.memoryDir ?? dirs.pidsDir ?? dirs.cpuDir) : null;
  if (v2Dir !== null && existsSync(join(v2Dir, 'cgroup.kill'))) {
    try {
      writeFileSync(join(v2Dir, 'cgroup.kill'), '1');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
  }
  return true;
}

/** One round: SIGKILL every task listed; true when none was listed. A fork loop can race a round, hence rounds. */
function killRound(dirs: BoxDirs): boolean {
  const pids = pidsOf(dirs);
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids.length === 0;
}

/** For callers that may block (start-up leftovers, the support probe): waits by sleeping the thread. */
function killAllIn(dirs: BoxDirs): void {
  if (!writeCgroupKill(dirs)) return;
  for (let round = 0; round < KILL_ROUNDS && !killRound(dirs); round++) sleepSync(killPause(round));
}

/** Waits for the tasks to go on timers: a box closing must not stall every other client's calls. */
async function killAllInAsync(dirs: BoxDirs, stop: () => boolean): Promise<void> {
  if (!writeCgroupKill(dirs)) return;
  for (let round = 0; round < KILL_ROUNDS && !stop() && !killRound(dirs); round++)
    await delay(killPause(round));
}

function destroyDirs(dirs: BoxDirs): void {
  killAllIn(dirs);
  for (const dir of dirsOf(dirs)) removeDir(dir);
}

/** Makes the box directories and writes the limits; throws with the kernel's reason, leaving nothing behind. */
function createDirs(layout: CgroupLayout, name: string, limits: CgroupLimits): BoxDirs {
  const dirs = resolveDirs(layout, name);
  if (dirs.memoryDir === null && dirs.pidsDir === null)
    throw new Error('neither the memory nor the pids controller is available');
  const made: string[] = [];
  try {
    for (const dir of new Set([dirs.memoryDir, dirs.pidsDir])) {
      if (dir === null) continue;
      // leftovers of a crashed run: their processes must not survive into the new box
      if (existsSync(dir))
        destroyDirs({ version: dirs.version, memoryDir: dir, pidsDir: null, cpuDir: null });
      mkdirSync(dir);
      made.push(dir);
    }
    writeLimits(dirs, limits);
  } catch (err) {
    for (const dir of made) {
      try {
        removeDir(dir);
      } catch {
        // the original error is the one worth reporting
      }
    }
    throw err;
  }
  return { ...dirs, cpuDir: withCpu(dirs, limits) };
}

/** Gives the box its CPU share (and quota); where that fails the box goes without one rather than not at all. */
function withCpu(dirs: BoxDirs, limits: CgroupLimits): string | null {
  const dir = dirs.cpuDir;
  if (dir === null) return null;
  const own = dir !== dirs.memoryDir && dir !== dirs.pidsDir;
  try {
    if (own) {
      if (existsSync(dir))
        destroyDirs({ version: dirs.version, memoryDir: null, pidsDir: null, cpuDir: dir });
      mkdirSync(dir);
    }
    writeCpu(dirs.version, dir, limits);
    return dir;
  } catch {
    if (own) {
      try {
        removeDir(dir);
      } catch {
        // an empty directory left behind is removed by the next box of that name
      }
    }
    return null;
  }
}

/** One box's cgroup(s): a single v2 directory, or a memory and a pids directory under v1. */
export class BoxCgroup {
  readonly version: CgroupVersion;
  readonly memoryDir: string | null;
  readonly pidsDir: string | null;
  /** Where the box's CPU share is written; null when this machine gives boxes none. */
  readonly cpuDir: string | null;
  /** The usage counters are read after every call, so their files stay open and are re-read in place. */
  private readonly counters = new CounterFiles();
  /** The kill in progress: one at a time, and destroy() waits for it. */
  private killing: Promise<void> | null = null;
  private destroying: Promise<void> | null = null;
  /** Set once the directories are removed: the name may then belong to the session's next box, never touched. */
  private removed = false;

  private constructor(dirs: BoxDirs) {
    this.version = dirs.version;
    this.memoryDir = dirs.memoryDir;
    this.pidsDir = dirs.pidsDir;
    this.cpuDir = dirs.cpuDir;
  }

  /**
   * Creates (or recreates, killing leftovers of a crashed run) the box cgroup with the given limits. Null when
   * no cgroup is usable here; cgroupSupport() says why. A controller the machine lacks leaves that limit unenforced
   * (see memoryEnforced/pidsEnforced) rather than refusing the other.
   */
  static create(
    name: string,
    limits: CgroupLimits,
    layout: CgroupLayout | null = hostCgroupLayout(),
  ): BoxCgroup | null {
    if (!NAME.test(name))
      throw new SandboxError('invalid_argument', `invalid cgroup name ${JSON.stringify(name)}`);
    if (!(limits.memoryBytes > 0) || !(limits.pids > 0) || !((limits.cpuQuota ?? 0) >= 0)) {
      throw new SandboxError('invalid_argument', 'cgroup limits must be positive', { ...limits });
    }
    if (layout === null) return null;
    try {
      return new BoxCgroup(createDirs(layout, name, limits));
    } catch {
      return null;
    }
  }

  get memoryEnforced(): boolean {
    return this.memoryDir !== null;
  }

  get pidsEnforced(): boolean {
    return this.pidsDir !== null;
  }

  get cpuEnforced(): boolean {
    return this.cpuDir !== null;
  }

  /** Gives a box started in the background the share every box has (a pooled box handed to a session). */
  foreground(): void {
    if (this.cpuDir !== null) writeShare(this.version, this.cpuDir, false);
  }

  /** Every cgroup.procs a launcher must write its pid into before the box starts. */
  procsFiles(): string[] {
    return procsFilesOf(this);
  }

  /**
   * Processes the kernel OOM-killed in this cgroup. v1 kernels before 4.13 lack the oom_kill counter in
   * memory.oom_control; there memory.failcnt (times usage hit the limit) is returned instead, which also
   * counts limit hits that reclaim resolved, so treat it as "the limit was reached", not as a kill count.
   */
  oomKillCount(): number {
    if (this.memoryDir === null) return 0;
    if (this.version === 2)
      return keyedValue(readText(join(this.memoryDir, 'memory.events')) ?? '', 'oom_kill') ?? 0;
    const v = keyedValue(readText(join(this.memoryDir, 'memory.oom_control')) ?? '', 'oom_kill');
    if (v !== null) return v;
    return readNumber(join(this.memoryDir, 'memory.failcnt')) ?? 0;
  }

  memoryCurrent(): number {
    if (this.memoryDir === null) return 0;
    const file = this.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    return this.counters.read(join(this.memoryDir, file)) ?? 0;
  }

  /** High-water mark of memory use; null where the kernel does not keep one (v2 before 5.19). */
  memoryPeak(): number | null {
    if (this.memoryDir === null) return null;
    const file = this.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes';
    return this.counters.read(join(this.memoryDir, file));
  }

  pidsCurrent(): number {
    if (this.pidsDir !== null) return this.counters.read(join(this.pidsDir, 'pids.current')) ?? 0;
    return this.pids().length;
  }

  /** Every pid currently in the box's cgroup(s). */
  pids(): number[] {
    return pidsOf(this);
  }

  /**
   * SIGKILLs everything in the cgroup and resolves once the kernel lists no task in it. cgroup.kill (v2, 5.14+) is
   * atomic; otherwise a fork loop can race a single pass, so the procs list is re-read and re-killed until empty,
   * with a bound so a stuck task cannot hang us. The waits are timers, never a sleep of the event loop.
   */
  killAll(): Promise<void> {
    if (this.removed) return Promise.resolve();
    this.killing ??= killAllInAsync(this, () => this.removed).finally(() => {
      this.killing = null;
    });
    return this.killing;
  }

  /**
   * Kills what is left, waits until no task is listed, then removes the directories; a cgroup that is already gone
   * is not an error. Resolves only when they are gone, so the session's next box may take the name.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.counters.close();
      // A kill already running is awaited rather than doubled: either way no task is left when it resolves.
      await this.killAll();
      for (const dir of dirsOf(this)) await removeDirAsync(dir);
      this.removed = true;
    })();
    return this.destroying;
  }
}

/**
 * What this machine can enforce, found by really creating and removing a probe cgroup (a readable but
 * unwritable cgroupfs is the common failure). The reason says why and how to fix it. Under a delegated v2
 * cgroup this, like create(), moves the server's own processes into a leaf the first time.
 */
export function cgroupSupport(layout: CgroupLayout | null = hostCgroupLayout()): CgroupSupport {
  if (layout === null) {
    return {
      version: null,
      memory: false,
      pids: false,
      reason: `no cgroup hierarchy with memory or pids controllers is mounted; ${FIX_HINT}`,
    };
  }
  const probeName = `probe-${process.pid}-${Date.now().toString(36)}`;
  let dirs: BoxDirs;
  try {
    dirs = createDirs(layout, probeName, { memoryBytes: 256 * 1024 * 1024, pids: 64 });
  } catch (err) {
    return {
      version: layout.version,
      memory: false,
      pids: false,
      reason: `cannot create cgroups under the ${layout.version === 2 ? 'unified' : 'v1'} hierarchy (${(err as Error).message}); ${FIX_HINT}`,
    };
  }
  try {
    destroyDirs(dirs);
  } catch {
    // a probe left behind is harmless; the next create of that name would clean it
  }
  const memory = dirs.memoryDir !== null;
  const pids = dirs.pidsDir !== null;
  const result: CgroupSupport = { version: layout.version, memory, pids };
  if (!memory || !pids) {
    const missing = [memory ? null : 'memory', pids ? null : 'pids'].filter(Boolean).join(' and ');
    result.reason =
      layout.version === 2
        ? `the ${missing} controller is not available to this cgroup; enable it in the parent's cgroup.subtree_control or delegate it (Delegate=yes)`
        : `the ${missing} controller is not mounted (cgroup v1); mount it or boot with cgroup v2`;
  }
  return result;
}

/**
 * Whether boxes get a CPU share of their own here, found like cgroupSupport() by creating a probe cgroup. Without
 * one, a session running many busy processes takes CPU time from every other session.
 */
export function cpuSupport(layout: CgroupLayout | null = hostCgroupLayout()): CpuSupport {
  const none = (reason: string): CpuSupport => ({ enforced: false, mechanism: 'none', reason });
  if (layout === null) return none(`no cgroup hierarchy is mounted; ${FIX_HINT}`);
  if (layout.version === 1 && layout.cpuMount === null)
    return none('the cpu controller is not mounted (cgroup v1); mount it, or boot with cgroup v2');
  if (layout.version === 2 && !layout.controllers.includes('cpu')) {
    return none(
      "the cpu controller is not available in the unified hierarchy; enable it in the parent's cgroup.subtree_control or delegate it (Delegate=yes)",
    );
  }
  let dirs: BoxDirs;
  try {
    dirs = createDirs(layout, `probe-cpu-${process.pid}-${Date.now().toString(36)}`, {
      memoryBytes: 256 * 1024 * 1024,
      pids: 64,
    });
  } catch (err) {
    return none(`cannot create cgroups (${(err as Error).message}); ${FIX_HINT}`);
  }
  try {
    destroyDirs(dirs);
  } catch {
    // a probe left behind is harmless; the next create of that name would clean it
  }
  if (dirs.cpuDir === null) {
    return none(
      layout.version === 2
        ? 'the cpu controller could not be handed down to the boxes (it is not delegated, or a realtime process outside the root cgroup blocks it)'
        : 'no cgroup could be made under the cpu controller mount',
    );
  }
  return {
    enforced: true,
    mechanism:
      layout.version === 2
        ? `cpu cgroup (v2, cpu.weight ${CPU_WEIGHT_V2} per box)`
        : `cpu cgroup (v1, cpu.shares ${CPU_SHARES_V1} per box)`,
  };
}

/**
 * Removes the cgroup folders that boxes of a killed server left behind, found by name (the session ids of the data
 * dir this server owns; see sessions/ownership.ts): whatever still runs in one is killed first. Names of other
 * servers' boxes are never passed here, and nothing outside the sandbox-mcp parents is looked at.
 */
export function removeLeftoverCgroups(
  names: Iterable<string>,
  layout: CgroupLayout | null = hostCgroupLayout(),
): number {
  if (layout === null) return 0;
  const parents =
    layout.version === 2
      ? [join(layout.mount, CGROUP_PARENT), join(layout.mount, layout.ownCgroup, CGROUP_PARENT)]
      : [layout.memoryMount, layout.pidsMount, layout.cpuMount]
          .filter((m): m is string => m !== null)
          .map((m) => join(m, CGROUP_PARENT));
  let removed = 0;
  for (const name of names) {
    if (!NAME.test(name)) continue;
    for (const parent of new Set(parents)) {
      const dir = join(parent, name);
      if (!existsSync(dir)) continue;
      try {
        destroyDirs({ version: layout.version, memoryDir: dir, pidsDir: null, cpuDir: null });
        removed++;
      } catch {
        // still busy: the next start, or the next box of that name, removes it
      }
    }
  }
  return removed;
}
