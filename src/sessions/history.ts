// Write-behind of execution history and session usage: rows are queued on the hot path and written in one
// transaction on the next tick, so a call never waits for SQLite. Readers flush first.
import type { Db } from '../store/db.js';
import { ExecutionsRepo, type ExecutionRow } from '../store/executions-repo.js';
import type { SessionsRepo } from '../store/sessions-repo.js';

export class HistoryWriter {
  private readonly executions: ExecutionsRepo;
  private queue: Array<{ row: ExecutionRow; usedAt: string }> = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly sessions: SessionsRepo,
  ) {
    this.executions = new ExecutionsRepo(db);
  }

  record(row: ExecutionRow, usedAt: string): void {
    this.queue.push({ row, usedAt });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.db.transaction(() => {
      for (const { row, usedAt } of items) {
        this.executions.insert(row);
        this.sessions.used(row.session_id, usedAt, row.execution_count);
      }
    })();
  }

  list(sessionId: string): ExecutionRow[] {
    this.flush();
    return this.executions.list(sessionId);
  }
}
