// The memory of one idle session's box, as its backend accounts it: a Docker box's container through the engine's
// stats, a bubblewrap box's own cgroup from its files; and the resident memory of the box's processes on both.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CGROUP_PARENT, hostCgroupLayout, keyedValue } from '../src/sandbox/cgroups.js';
import { containerName } from '../src/sandbox/docker/container-spec.js';
import type { Engine } from '../src/sandbox/docker/engine.js';

export interface BoxMemory {
  /** The cgroup's memory usage (page cache included). */
  usageMb: number;
  /** Usage less inactive file pages: what `docker stats` shows. */
  workingSetMb: number;
  /** VmRSS of the box's processes added up; null when they are not on this machine (a remote engine). */
  rssMb: number | null;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function rssOf(pids: number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += m ? Number(m[1]) * 1024 : 0;
    } catch {
      return null; // not a process of this machine
    }
  }
  return mb(total);
}

/** A Docker box: the engine's stats of its container (one sample), and its processes by host pid. */
export async function dockerBoxMemory(
  engine: Engine,
  instance: string,
  sessionId: string,
): Promise<BoxMemory> {
  const c = engine.docker.getContainer(containerName(instance, sessionId));
  const s = (await c.stats({ stream: false })) as unknown as {
    memory_stats: { usage?: number; stats?: Record<string, number> };
  };
  const usage = s.memory_stats.usage ?? 0;
  const st = s.memory_stats.stats ?? {};
  const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
  const top = (await c.top({ ps_args: '-eo pid' })) as { Processes?: string[][] };
  const pids = (top.Processes ?? []).map((p) => Number(p[0]));
  return { usageMb: mb(usage), workingSetMb: mb(usage - inactive), rssMb: rssOf(pids) };
}

/** The memory cgroup folder of a bubblewrap box (v1: below the memory mount; v2: wherever the server put it). */
function bwrapMemoryDir(sessionId: string): string {
  const layout = hostCgroupLayout();
  if (layout === null) throw new Error('no cgroups here: a bubblewrap box has no memory figure of its own');
  const candidates =
    layout.version === 1
      ? layout.memoryMount === null
        ? []
        : [join(layout.memoryMount, CGROUP_PARENT, sessionId)]
      : [
          join(layout.mount, CGROUP_PARENT, sessionId),
          join(layout.mount, layout.ownCgroup, CGROUP_PARENT, sessionId),
        ];
  const dir = candidates.find((d) => existsSync(d));
  if (!dir) throw new Error(`no memory cgroup found for the box ${sessionId}`);
  return dir;
}

/** A bubblewrap box: its memory cgroup's usage and statistics, and the processes the cgroup holds. */
export function bwrapBoxMemory(sessionId: string): BoxMemory {
  const dir = bwrapMemoryDir(sessionId);
  const v1 = existsSync(join(dir, 'memory.usage_in_bytes'));
  const usage = Number(readFileSync(join(dir, v1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8'));
  const stat = readFileSync(join(dir, 'memory.stat'), 'utf8');
  const inactive = keyedValue(stat, v1 ? 'total_inactive_file' : 'inactive_file') ?? 0;
  const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  return { usageMb: mb(usage), workingSetMb: mb(usage - inactive), rssMb: rssOf(pids) };
}
