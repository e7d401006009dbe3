// Execution history and session usage, written behind each call (see store/write-behind.ts) so a call never
// waits for SQLite, nor for serializing its outputs. Readers and shutdown flush first.
import type { Db } from '../store/db.js';
import { ExecutionsRepo, type ExecutionRow } from '../store/executions-repo.js';
import type { SessionsRepo } from '../store/sessions-repo.js';
import { deferredWrites, type DeferredWrites } from '../store/write-behind.js';

export class HistoryWriter {
  private readonly executions: ExecutionsRepo;
  /** The newest use of each session: of the jobs queued for it, only the one that recorded this use writes. */
  private readonly uses = new Map<string, { at: string; count: number }>();

  constructor(
    db: Db,
    private readonly sessions: SessionsRepo,
    private readonly writes: DeferredWrites = deferredWrites(db),
  ) {
    this.executions = new ExecutionsRepo(db);
  }

  /** One finished call: its row, and its outputs as a value serialized when the queue is written. */
  record(row: Omit<ExecutionRow, 'outputs'>, outputs: unknown): void {
    this.writes.push(() => this.executions.insert({ ...row, outputs: JSON.stringify(outputs) }));
  }

  /** The session was used at `at` with `count` executions so far (its last_used_at and execution_count). */
  used(sessionId: string, at: string, count: number): void {
    const use = { at, count };
    this.uses.set(sessionId, use);
    // Earlier jobs of the batch see a newer use and skip: one write per session per batch. Nothing is forgotten
    // before the commit, so a batch the database refused writes the newest use on its next try.
    this.writes.push(() => {
      if (this.uses.get(sessionId) === use) this.sessions.used(sessionId, at, count);
    });
  }

  /** The session is closed: its uses are no longer written. */
  forget(sessionId: string): void {
    this.uses.delete(sessionId);
  }

  /** Writes what is queued; false when the database refused it (it stays queued and is retried). */
  flush(): boolean {
    return this.writes.flush();
  }

  list(sessionId: string): ExecutionRow[] {
    this.flush();
    return this.executions.list(sessionId);
  }
}
