// Where an open descriptor really points, so reads of sandbox-writable files are checked after open (caller paths go through src/policy/paths.ts); never trusts a pre-open check alone.
import { readlinkSync } from 'node:fs';
import { sep } from 'node:path';

export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Where an open descriptor really points; null when /proc is not mounted. */
export function fdRealPath(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}
