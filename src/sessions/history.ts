// Execution history and session usage, written behind each call (see store/write-behind.ts) so a call never
// waits for SQLite. Readers and shutdown flush first.
import type { Db } from '../store/db.js';
import { ExecutionsRepo, type ExecutionRow } from '../store/executions-repo.js';
import type { SessionsRepo } from '../store/sessions-repo.js';
import { WriteBehind } from '../store/write-behind.js';

export class HistoryWriter {
  private readonly executions: ExecutionsRepo;
  private readonly pending: WriteBehind<{ row: ExecutionRow; usedAt: string }>;

  constructor(db: Db, sessions: SessionsRepo) {
    this.executions = new ExecutionsRepo(db);
    this.pending = new WriteBehind(db, (items) => {
      for (const { row, usedAt } of items) {
        this.executions.insert(row);
        sessions.used(row.session_id, usedAt, row.execution_count);
      }
    });
  }

  record(row: ExecutionRow, usedAt: string): void {
    this.pending.push({ row, usedAt });
  }

  flush(): void {
    this.pending.flush();
  }

  list(sessionId: string): ExecutionRow[] {
    this.flush();
    return this.executions.list(sessionId);
  }
}
