// Where a box's cgroup folders lie on this machine, under cgroup v1 or v2, found from the layout the server itself uses
// (src/sandbox/cgroups.ts), so a test checks the right folders whatever the version; on the Docker test backend, the
// folders the engine made for the box's container.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CGROUP_PARENT,
  CPU_SHARES_V1,
  CPU_WEIGHT_V2,
  hostCgroupLayout,
  type CgroupLayout,
} from '../../src/sandbox/cgroups.js';
import { containerCgroupDirs } from './docker-container.js';
import { TEST_BACKEND } from './harness.js';

export type Controller = 'memory' | 'pids' | 'cpu';

/**
 * The folders a box named `name` may have for a controller: under v1, the one below that controller's mount; under
 * v2, its single folder, at the top of the hierarchy (a root server) or below the server's own delegated cgroup. On
 * Docker, its running container's folder (none once the container is gone).
 */
export function boxCgroupCandidates(
  name: string,
  controller: Controller = 'memory',
  layout: CgroupLayout | null = hostCgroupLayout(),
): string[] {
  if (layout === null) return [];
  if (TEST_BACKEND === 'docker') return containerCgroupDirs(name, controller, layout);
  if (layout.version === 1) {
    const mount = { memory: layout.memoryMount, pids: layout.pidsMount, cpu: layout.cpuMount }[controller];
    return mount === null ? [] : [join(mount, CGROUP_PARENT, name)];
  }
  return [
    ...new Set([
      join(layout.mount, CGROUP_PARENT, name),
      join(layout.mount, layout.ownCgroup, CGROUP_PARENT, name),
    ]),
  ];
}

/** The box's memory and pids folders that exist now: two under v1 (one per controller), one under v2. */
export function boxCgroupDirs(name: string, layout: CgroupLayout | null = hostCgroupLayout()): string[] {
  const all = (['memory', 'pids'] as const).flatMap((c) => boxCgroupCandidates(name, c, layout));
  return [...new Set(all)].filter((d) => existsSync(d));
}

/** How many memory and pids folders a running box has here: one per v1 controller mount, one under v2, else none. */
export function liveBoxCgroupCount(layout: CgroupLayout | null = hostCgroupLayout()): number {
  if (layout === null) return 0;
  if (layout.version === 2) return 1;
  return new Set([layout.memoryMount, layout.pidsMount].filter((m) => m !== null)).size;
}

/** The folder of a box's cgroup that holds `file` for the controller; throws when the box has none. */
export function boxCgroupFile(name: string, controller: Controller, file: string): string {
  const candidates = boxCgroupCandidates(name, controller);
  const dir = candidates.find((d) => existsSync(d));
  if (!dir) throw new Error(`no ${controller} cgroup for ${name} in ${candidates.join(', ') || 'none'}`);
  return join(dir, file);
}

/** The box's memory limit in bytes: memory.max under v2, memory.limit_in_bytes under v1. */
export function boxMemoryLimit(name: string): number {
  const file = hostCgroupLayout()?.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
  return Number(readFileSync(boxCgroupFile(name, 'memory', file), 'utf8').trim());
}

/**
 * The box's CPU share and quota as written, with the share every box should have: cpu.shares and cpu.cfs_quota_us
 * under v1; cpu.weight and cpu.max under v2. quotaUs is null when the box has no quota.
 */
export function boxCpu(name: string): { share: number; expectedShare: number; quotaUs: number | null } {
  if (hostCgroupLayout()?.version === 2) {
    const [quota] = readFileSync(boxCgroupFile(name, 'cpu', 'cpu.max'), 'utf8')
      .trim()
      .split(' ');
    return {
      share: Number(readFileSync(boxCgroupFile(name, 'cpu', 'cpu.weight'), 'utf8')),
      expectedShare: CPU_WEIGHT_V2,
      quotaUs: quota === 'max' || quota === undefined ? null : Number(quota),
    };
  }
  const quota = Number(readFileSync(boxCgroupFile(name, 'cpu', 'cpu.cfs_quota_us'), 'utf8'));
  return {
    share: Number(readFileSync(boxCgroupFile(name, 'cpu', 'cpu.shares'), 'utf8')),
    expectedShare: CPU_SHARES_V1,
    quotaUs: quota < 0 ? null : quota,
  };
}
