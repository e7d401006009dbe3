// What enforces a box's memory and process limits: its cgroup, or, where the server cannot make one, an rlimit set
// inside the box; and the words every report (start-up warning, create_session, limitations, doctor) uses for it.
import { cgroupSupport, type CgroupSupport } from './cgroups.js';

/**
 * 'rlimit': memory is RLIMIT_DATA per process; processes are RLIMIT_NPROC, which the kernel (5.14+) counts per user
 * namespace, so set by the agent inside the box's own namespace it counts the box's tasks only. Set before bwrap
 * makes that namespace it would count every process of the host user (and stop the box from starting).
 */
export type LimitMechanism = 'cgroup' | 'rlimit' | 'none';

export interface LimitMechanisms {
  memory: LimitMechanism;
  pids: LimitMechanism;
}

/** Stand-ins exist only in a bubblewrap box: its own user namespace is what scopes RLIMIT_NPROC to it. */
export function limitMechanisms(boxed: boolean, cgroup: { memory: boolean; pids: boolean }): LimitMechanisms {
  const by = (viaCgroup: boolean): LimitMechanism => (viaCgroup ? 'cgroup' : boxed ? 'rlimit' : 'none');
  return { memory: by(cgroup.memory), pids: by(cgroup.pids) };
}

export function memoryEnforcedBy(m: LimitMechanism): string {
  if (m === 'cgroup') return 'cgroup';
  if (m === 'rlimit')
    return (
      'RLIMIT_DATA per process, not per session (no memory cgroup here): a cell that allocates more ends as ' +
      'memory_limit, but several processes together, shared mappings and files in /tmp can use more, so it stops ' +
      'ordinary overuse, not hostile code'
    );
  return 'not enforced on this machine';
}

export function pidsEnforcedBy(m: LimitMechanism): string {
  if (m === 'cgroup') return 'cgroup';
  if (m === 'rlimit')
    return "RLIMIT_NPROC in the box's own user namespace (no pids cgroup here): counts the box's processes and threads";
  return 'not enforced on this machine';
}

/** One line per limit that no cgroup enforces, naming what stands in for it; empty when cgroups enforce both. */
export function limitNotices(m: LimitMechanisms, memoryMb: number, pids: number): string[] {
  const out: string[] = [];
  if (m.memory === 'none') out.push('the memory limit is not enforced on this machine');
  if (m.memory === 'rlimit')
    out.push(
      `the memory limit is not enforced by a cgroup on this machine: ${memoryMb} MiB is ${memoryEnforcedBy('rlimit')}`,
    );
  if (m.pids === 'none') out.push('the process limit is not enforced on this machine');
  if (m.pids === 'rlimit')
    out.push(
      `the process limit is not enforced by a cgroup on this machine: ${pids} is ${pidsEnforcedBy('rlimit')}`,
    );
  return out;
}

let hostSupport: CgroupSupport | undefined;

/** This host's cgroup support, probed once per process (a probe cgroup made and removed): it does not change. */
export function hostCgroupSupport(): CgroupSupport {
  return (hostSupport ??= cgroupSupport());
}

/**
 * What holds a new box's limits on this host, its cgroup support probed once (a probe cgroup made and removed).
 * A Docker box always has its container's cgroup.
 */
export function hostLimitMechanisms(
  backend: 'bwrap' | 'docker' | 'none',
): LimitMechanisms & { reason?: string } {
  if (backend === 'docker') return { memory: 'cgroup', pids: 'cgroup' };
  const support = hostCgroupSupport();
  const m = limitMechanisms(backend === 'bwrap', support);
  return support.reason === undefined ? m : { ...m, reason: support.reason };
}
