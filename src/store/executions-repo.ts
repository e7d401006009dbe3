// Execution history rows: each call's code, status and outputs, kept for the notebook export and the audit.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface ExecutionRow {
  session_id: string;
  execution_count: number;
  kind: string;
  code: string;
  status: string;
  started_at: string;
  duration_ms: number;
  outputs: string;
}

export class ExecutionsRepo {
  private readonly insertStmt: Statement;
  private readonly listStmt: Statement;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT OR REPLACE INTO executions (session_id, execution_count, kind, code, status, started_at, duration_ms, outputs)
       VALUES (@session_id, @execution_count, @kind, @code, @status, @started_at, @duration_ms, @outputs)`,
    );
    this.listStmt = db.prepare(
      // The newest `limit` calls, oldest first.
      `SELECT * FROM (SELECT * FROM executions WHERE session_id = ? ORDER BY execution_count DESC LIMIT ?)
       ORDER BY execution_count`,
    );
  }

  insert(row: ExecutionRow): void {
    this.insertStmt.run(row);
  }

  list(sessionId: string, limit = 1000): ExecutionRow[] {
    return this.listStmt.all(sessionId, limit) as ExecutionRow[];
  }
}
