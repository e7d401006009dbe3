// How many bytes one call may hash, and which files were described without a hash (sha256 null) and why.
import { isSparse, type NotHashedError } from '../workspace/file-io.js';
import type { FileStat } from './workspace-walk.js';

/** Bytes one call hashes at most; a file that does not fit in what is left is described without its hash. */
export const HASH_BUDGET_BYTES = 256 * 1024 * 1024;

export type NotHashedReason = NotHashedError['reason'];

/** Paths a notice names per reason; the count is always whole. */
const NAMED = 5;

function why(reason: NotHashedReason, budget: number): string {
  return reason === 'sparse'
    ? 'sparse (an apparent size far above the disk space they take)'
    : `past the ${budget} bytes one call hashes`;
}

export class HashBudget {
  private remaining: number;
  private readonly skipped: Record<NotHashedReason, string[]> = { sparse: [], over_budget: [] };

  constructor(private readonly bytes = HASH_BUDGET_BYTES) {
    this.remaining = bytes;
  }

  /** Why the file as stat'ed is not to be hashed, or null after reserving its size from the budget. */
  reserve(st: FileStat): NotHashedReason | null {
    if (isSparse(st.size, st.allocated)) return 'sparse';
    if (st.size > this.remaining) return 'over_budget';
    this.remaining -= st.size;
    return null;
  }

  /** Settles a reservation with the bytes actually read (0 when the file was not read). */
  settle(reserved: number, read: number): void {
    this.remaining += reserved - read;
  }

  skip(path: string, reason: NotHashedReason): void {
    this.skipped[reason].push(path);
  }

  /** One line for the call's result naming the files described without a hash, or null when every file was hashed. */
  notice(): string | null {
    const parts: string[] = [];
    for (const reason of ['sparse', 'over_budget'] as const) {
      const paths = [...this.skipped[reason]].sort();
      if (paths.length === 0) continue;
      const named = paths.slice(0, NAMED).join(', ') + (paths.length > NAMED ? `, … (${paths.length})` : '');
      parts.push(`${why(reason, this.bytes)}: ${named}`);
    }
    if (parts.length === 0) return null;
    return `files listed with sha256 null were not read whole, ${parts.join('; ')}`;
  }
}
