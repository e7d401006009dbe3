// Stops every process of a session's box while the server works on its workspace (backup, rollback, restore,
// cleanup, folder export), and lets them run again afterwards: cgroup v2 `cgroup.freeze`, or the v1 freezer controller.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CGROUP_PARENT, hostCgroupLayout } from './cgroups.js';

/** How long a freeze may take to settle before the work goes ahead unfrozen (descriptors still keep it contained). */
const SETTLE_MS = 2000;

export interface FreezeOutcome {
  /** True when every process of the box was stopped for the work. */
  frozen: boolean;
  /** Why not, when not (no box running, no freezer here, a process that would not stop). */
  reason?: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function pidsIn(procsFile: string): number[] {
  return (read(procsFile) ?? '')
    .split('\n')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The v1 freezer hierarchy's mount point and this process's place in it, or null when it is not mounted. */
function v1Freezer(): { mount: string; own: string } | null {
  const mountinfo = read('/proc/self/mountinfo') ?? '';
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fsType, , superOpts] = post.split(' ');
    if (fsType !== 'cgroup' || !(superOpts ?? '').split(',').includes('freezer')) continue;
    const mountRoot = f[3] ?? '/';
    const own = (read('/proc/self/cgroup') ?? '')
      .split('\n')
      .find((l) => (l.split(':')[1] ?? '').split(',').includes('freezer'));
    let path = own ? own.split(':').slice(2).join(':') : '/';
    if (mountRoot !== '/' && path.startsWith(mountRoot)) path = path.slice(mountRoot.length) || '/';
    return { mount: (f[4] ?? '').replace(/\\040/g, ' '), own: path };
  }
  return null;
}

/** The box's cgroup folder(s) that list its processes, found by its name (the session id). */
function boxDirs(name: string): { version: 1 | 2; dirs: string[] } | null {
  const layout = hostCgroupLayout();
  if (layout === null) return null;
  if (layout.version === 2) {
    const candidates = [
      join(layout.mount, CGROUP_PARENT, name),
      join(layout.mount, layout.ownCgroup, CGROUP_PARENT, name),
    ];
    const found = candidates.find((d) => existsSync(join(d, 'cgroup.procs')));
    return found ? { version: 2, dirs: [found] } : null;
  }
  const dirs = [layout.memoryMount, layout.pidsMount]
    .filter((m): m is string => m !== null)
    .map((m) => join(m, CGROUP_PARENT, name))
    .filter((d) => existsSync(join(d, 'cgroup.procs')));
  return dirs.length ? { version: 1, dirs } : null;
}

type Thaw = () => void;

async function freezeV2(dir: string): Promise<{ thaw: Thaw; outcome: FreezeOutcome }> {
  const file = join(dir, 'cgroup.freeze');
  if (!existsSync(file)) return { thaw: () => {}, outcome: { frozen: false, reason: 'no cgroup.freeze' } };
  writeFileSync(file, '1');
  const thaw = () => {
    try {
      writeFileSync(file, '0');
    } catch {
      // the box is gone
    }
  };
  const until = Date.now() + SETTLE_MS;
  while (Date.now() < until) {
    if (/^frozen 1$/m.test(read(join(dir, 'cgroup.events')) ?? ''))
      return { thaw, outcome: { frozen: true } };
    await sleep(1);
  }
  return { thaw, outcome: { frozen: false, reason: 'the box did not stop in time' } };
}

/**
 * v1: the freezer is a hierarchy of its own, so the box's processes (listed by its memory/pids cgroup) are moved
 * into a freezer cgroup named after it, frozen, and checked again: a process forked while they were being moved
 * is moved in too (a process joining a frozen cgroup is frozen). Thawing moves them back and removes the folder.
 */
async function freezeV1(name: string, procs: string[]): Promise<{ thaw: Thaw; outcome: FreezeOutcome }> {
  const fz = v1Freezer();
  if (fz === null) return { thaw: () => {}, outcome: { frozen: false, reason: 'no freezer controller' } };
  const dir = join(fz.mount, CGROUP_PARENT, name);
  const home = join(fz.mount, fz.own, 'cgroup.procs');
  mkdirSync(dir, { recursive: true });
  const moveIn = (): number => {
    const inside = new Set(pidsIn(join(dir, 'cgroup.procs')));
    let moved = 0;
    for (const pid of new Set(procs.flatMap(pidsIn))) {
      if (inside.has(pid)) continue;
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
        moved++;
      } catch {
        // exited meanwhile
      }
    }
    return moved;
  };
  const thaw = () => {
    try {
      writeFileSync(join(dir, 'freezer.state'), 'THAWED');
      for (let round = 0; round < 10; round++) {
        const pids = pidsIn(join(dir, 'cgroup.procs'));
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            writeFileSync(home, String(pid));
          } catch {
            // exited meanwhile
          }
        }
      }
      rmdirSync(dir);
    } catch {
      // processes that forked while moving back stay here, thawed; the folder is reused next time
    }
  };
  try {
    for (let round = 0; round < 20 && moveIn() > 0; round++);
    writeFileSync(join(dir, 'freezer.state'), 'FROZEN');
    const until = Date.now() + SETTLE_MS;
    while (Date.now() < until) {
      if ((read(join(dir, 'freezer.state')) ?? '').trim() === 'FROZEN') {
        if (moveIn() === 0) return { thaw, outcome: { frozen: true } };
      }
      await sleep(1);
    }
    return { thaw, outcome: { frozen: false, reason: 'the box did not stop in time' } };
  } catch (err) {
    thaw();
    return { thaw: () => {}, outcome: { frozen: false, reason: (err as Error).message } };
  }
}

interface Held {
  count: number;
  ready: Promise<{ thaw: Thaw; outcome: FreezeOutcome }>;
}

const held = new Map<string, Held>();

/**
 * Runs `work` with every process of box `name` stopped; nested calls for one box share one freeze. Where no freezer
 * is usable, or no box is running, the work runs anyway: what it does goes through folder descriptors, which keep it
 * inside the workspace; only the stillness of the tree is then not guaranteed.
 */
export async function withFrozenBox<T>(
  name: string,
  work: (outcome: FreezeOutcome) => Promise<T>,
): Promise<T> {
  let h = held.get(name);
  if (!h) {
    const box = boxDirs(name);
    const ready: Held['ready'] =
      box === null
        ? Promise.resolve({ thaw: () => {}, outcome: { frozen: false, reason: 'no running box' } })
        : box.version === 2
          ? freezeV2(box.dirs[0]!)
          : freezeV1(
              name,
              box.dirs.map((d) => join(d, 'cgroup.procs')),
            );
    h = {
      count: 0,
      ready: ready.catch((err: unknown) => ({
        thaw: () => {},
        outcome: { frozen: false, reason: err instanceof Error ? err.message : String(err) },
      })),
    };
    held.set(name, h);
  }
  h.count++;
  const state = await h.ready;
  try {
    return await work(state.outcome);
  } finally {
    if (--h.count === 0) {
      held.delete(name);
      state.thaw();
    }
  }
}
