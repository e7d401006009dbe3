// Session rows: the metadata that survives a server restart. Nothing outside store/ writes SQL.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface SessionRow {
  id: string;
  owner: string;
  name: string | null;
  is_default: number;
  created_at: string;
  last_used_at: string;
  closed_at: string | null;
  timeout_s: number;
  memory_mb: number;
  pids: number;
  network: string;
  execution_count: number;
}

export class SessionsRepo {
  // Prepared once: statement preparation dominated the per-call cost of the execute hot path.
  private readonly stmts: Record<string, Statement>;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO sessions (id, owner, name, is_default, created_at, last_used_at, timeout_s, memory_mb, pids, network)
         VALUES (@id, @owner, @name, @is_default, @created_at, @last_used_at, @timeout_s, @memory_mb, @pids, @network)`,
      ),
      listAll: db.prepare('SELECT * FROM sessions WHERE closed_at IS NULL ORDER BY created_at'),
      used: db.prepare(
        'UPDATE sessions SET last_used_at = ?, execution_count = MAX(execution_count, ?) WHERE id = ?',
      ),
      close: db.prepare('UPDATE sessions SET closed_at = ? WHERE id = ?'),
    };
  }

  insert(row: Omit<SessionRow, 'closed_at' | 'execution_count'>): void {
    this.stmts.insert!.run(row);
  }

  /** Open sessions: the server holds them all in memory from start-up on, so this is read once. */
  listOpen(): SessionRow[] {
    return this.stmts.listAll!.all() as SessionRow[];
  }

  /** Records a call: last use time and the execution counter it reached. */
  used(id: string, at: string, executionCount: number): void {
    this.stmts.used!.run(at, executionCount, id);
  }

  close(id: string, at: string): void {
    this.stmts.close!.run(at, id);
  }
}
