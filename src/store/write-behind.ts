// A queue of rows written in one SQLite transaction at most every FLUSH_MS, so the calls that produce them
// never wait for a commit (~0.5 ms here). Readers call flush() first; a crash loses at most FLUSH_MS of rows.
// A batch that cannot be written (a full disk, a locked database) stays queued and is retried with a growing delay,
// so freeing space loses nothing; only past MAX_PENDING rows are the oldest dropped, and counted. A row whose own
// write fails (not the database) is dropped alone and reported. Nothing here ever throws at a caller.
import { isDiskFull } from '../errors.js';
import type { Db } from './db.js';

export const FLUSH_MS = 200;
export const MAX_PENDING = 50_000;
const RETRY_MAX_MS = 30_000;

/** SQLite errors that say the database cannot take writes right now, not that a row is wrong. */
const TRANSIENT = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|PROTOCOL)/;

export function isTransientWriteError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return isDiskFull(err) || (typeof code === 'string' && TRANSIENT.test(code));
}

export type WriteOutcome = 'retrying' | 'dropped';

export class WriteBehind<T> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private retryMs = 0;
  private dropped = 0;

  constructor(
    private readonly db: Db,
    /** Writes the items inside the transaction; it may run again for the same items after a rollback. */
    private readonly write: (items: T[]) => void,
    /** retrying: the rows stay queued; dropped: they are gone (a bad row, or the queue's overflow). */
    private readonly onError: (err: unknown, outcome: WriteOutcome) => void = (err, outcome) =>
      void process.stderr.write(
        `sandbox-mcp: a background database write failed (${outcome}): ${String(err)}\n`,
      ),
  ) {}

  /** Rows waiting to be written (after a failure, until the database takes writes again). */
  get pending(): number {
    return this.queue.length;
  }

  push(item: T): void {
    this.queue.push(item);
    if (this.queue.length > MAX_PENDING) {
      this.dropped += this.queue.length - MAX_PENDING;
      this.queue.splice(0, this.queue.length - MAX_PENDING);
    }
    this.schedule(FLUSH_MS);
  }

  /** Writes what is queued now; false when the database refused (the rows stay queued for the next try). */
  flush(): boolean {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return true;
    const items = this.queue;
    this.queue = [];
    try {
      this.writeAll(items);
    } catch (err) {
      // Rolled back as a whole: put the batch back in front of what arrived since, and try again later.
      this.queue = items.concat(this.queue);
      if (this.retryMs === 0) this.onError(err, 'retrying'); // once per streak of failures, not every retry
      this.retryMs = Math.min(Math.max(this.retryMs * 2, 1000), RETRY_MAX_MS);
      this.schedule(this.retryMs);
      return false;
    }
    if (this.retryMs !== 0 || this.dropped !== 0) {
      const lost = this.dropped;
      this.retryMs = 0;
      this.dropped = 0;
      if (lost) {
        this.onError(
          new Error(`${lost} queued rows were dropped while the database could not be written`),
          'dropped',
        );
      }
    }
    return true;
  }

  private writeAll(items: T[]): void {
    try {
      this.db.transaction(() => this.write(items))();
      return;
    } catch (err) {
      if (isTransientWriteError(err) || items.length === 1) {
        if (!isTransientWriteError(err)) return this.onError(err, 'dropped'); // one bad row: report it, drop it
        throw err;
      }
    }
    // A row of the batch is at fault, not the database: each row in its own savepoint, the bad ones dropped.
    this.db.transaction(() => {
      for (const item of items) {
        try {
          this.db.transaction(() => this.write([item]))();
        } catch (err) {
          if (isTransientWriteError(err)) throw err;
          this.onError(err, 'dropped');
        }
      }
    })();
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, ms);
    this.timer.unref();
  }
}

/**
 * Deferred writes of several kinds (history, usage, audit) sharing one queue: one timer and one commit per window.
 * A job may run again after a rollback, so it must change nothing but the database.
 */
export type DeferredWrites = WriteBehind<() => void>;

export function deferredWrites(
  db: Db,
  onError?: (err: unknown, outcome: WriteOutcome) => void,
): DeferredWrites {
  return new WriteBehind<() => void>(
    db,
    (jobs) => {
      for (const job of jobs) job();
    },
    onError,
  );
}
