// Execution history and session usage, written behind each call (see store/write-behind.ts) so a call never
// waits for SQLite, nor for serializing its outputs. Readers and shutdown flush first.
import type { Db } from '../store/db.js';
import { ExecutionsRepo, type ExecutionRow } from '../store/executions-repo.js';
import type { SessionsRepo } from '../store/sessions-repo.js';
import { WriteBehind } from '../store/write-behind.js';

type Pending =
  | { kind: 'execution'; row: Omit<ExecutionRow, 'outputs'>; outputs: unknown }
  | { kind: 'used'; sessionId: string; at: string; count: number };

export class HistoryWriter {
  private readonly executions: ExecutionsRepo;
  private readonly pending: WriteBehind<Pending>;

  constructor(db: Db, sessions: SessionsRepo, onError?: (err: unknown) => void) {
    this.executions = new ExecutionsRepo(db);
    this.pending = new WriteBehind(
      db,
      (items) => {
        // Only the newest use of each session is worth a write.
        const used = new Map<string, { at: string; count: number }>();
        for (const item of items) {
          if (item.kind === 'used') used.set(item.sessionId, item);
          else this.executions.insert({ ...item.row, outputs: JSON.stringify(item.outputs) });
        }
        for (const [id, u] of used) sessions.used(id, u.at, u.count);
      },
      onError,
    );
  }

  /** One finished call: its row, and its outputs as a value serialized when the queue is written. */
  record(row: Omit<ExecutionRow, 'outputs'>, outputs: unknown): void {
    this.pending.push({ kind: 'execution', row, outputs });
  }

  /** The session was used at `at` with `count` executions so far (its last_used_at and execution_count). */
  used(sessionId: string, at: string, count: number): void {
    this.pending.push({ kind: 'used', sessionId, at, count });
  }

  flush(): void {
    this.pending.flush();
  }

  list(sessionId: string): ExecutionRow[] {
    this.flush();
    return this.executions.list(sessionId);
  }
}
