// What this host can give all boxes together (memory, process ids), from which the server's global caps default.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { ownPidsMax } from './cgroups.js';

const MIB = 1024 * 1024;

/** Share of the host's memory that the memory limits of all open sessions may add up to; the rest is the host's. */
export const MEMORY_SHARE = 0.75;
/** Share of the host's process ids that the pids limits of all open sessions may add up to. */
export const PIDS_SHARE = 0.5;

function readPositive(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** The host's memory in MiB: its RAM, or the memory limit of the cgroup this process runs in when that is lower. */
export function hostMemoryMb(): number {
  const total = totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  const usable = constrained > 0 && constrained < total ? constrained : total;
  return Math.floor(usable / MIB);
}

/** How many processes (threads included) the host can hold: the kernel's pid and thread limits, and our pids cgroup's. */
export function hostPidsLimit(): number {
  const limits = [
    readPositive('/proc/sys/kernel/pid_max'),
    readPositive('/proc/sys/kernel/threads-max'),
    ownPidsMax(),
  ].filter((n): n is number => n !== null);
  return limits.length > 0 ? Math.min(...limits) : 32_768;
}

/** Default for the memory all sessions together may be given, MiB: three quarters of the host's. */
export function defaultTotalMemoryMb(): number {
  return Math.floor(hostMemoryMb() * MEMORY_SHARE);
}

/** Default for the processes all sessions together may be given: half of the host's. */
export function defaultTotalPids(): number {
  return Math.floor(hostPidsLimit() * PIDS_SHARE);
}
