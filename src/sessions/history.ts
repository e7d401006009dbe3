// Write-behind of execution history and session usage: rows are queued on the hot path and written in one
// transaction at most every FLUSH_MS, so a call never waits for SQLite (a commit costs ~0.5 ms here).
// Readers and shutdown flush first; a crash loses at most FLUSH_MS of history, never a workspace file.
import type { Db } from '../store/db.js';
import { ExecutionsRepo, type ExecutionRow } from '../store/executions-repo.js';
import type { SessionsRepo } from '../store/sessions-repo.js';

const FLUSH_MS = 200;

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
      setTimeout(() => this.flush(), FLUSH_MS).unref();
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
