// A queue of rows written in one SQLite transaction at most every FLUSH_MS, so the calls that produce them
// never wait for a commit (~0.5 ms here). Readers call flush() first; a crash loses at most FLUSH_MS of rows.
// A write that fails on the timer (a full disk, a locked database) drops its batch and is reported; it never
// takes the server down. flush() called directly throws, so its caller sees the failure.
import type { Db } from './db.js';

export const FLUSH_MS = 200;

export class WriteBehind<T> {
  private queue: T[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly write: (items: T[]) => void,
    private readonly onError: (err: unknown) => void = (err) =>
      void process.stderr.write(`sandbox-mcp: a background database write failed: ${String(err)}\n`),
  ) {}

  push(item: T): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(() => {
        try {
          this.flush();
        } catch (err) {
          this.onError(err);
        }
      }, FLUSH_MS).unref();
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.db.transaction(() => this.write(items))();
  }
}

/** Deferred writes of several kinds (history, usage, audit) sharing one queue: one timer and one commit per window. */
export type DeferredWrites = WriteBehind<() => void>;

export function deferredWrites(db: Db, onError?: (err: unknown) => void): DeferredWrites {
  return new WriteBehind<() => void>(
    db,
    (jobs) => {
      for (const job of jobs) job();
    },
    onError,
  );
}
