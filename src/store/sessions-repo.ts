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
      get: db.prepare('SELECT * FROM sessions WHERE id = ? AND closed_at IS NULL'),
      defaultFor: db.prepare(
        'SELECT * FROM sessions WHERE owner = ? AND is_default = 1 AND closed_at IS NULL',
      ),
      listAll: db.prepare('SELECT * FROM sessions WHERE closed_at IS NULL ORDER BY created_at'),
      listOwner: db.prepare(
        'SELECT * FROM sessions WHERE owner = ? AND closed_at IS NULL ORDER BY created_at',
      ),
      used: db.prepare(
        'UPDATE sessions SET last_used_at = ?, execution_count = MAX(execution_count, ?) WHERE id = ?',
      ),
      close: db.prepare('UPDATE sessions SET closed_at = ? WHERE id = ?'),
      idle: db.prepare('SELECT * FROM sessions WHERE closed_at IS NULL AND last_used_at < ?'),
    };
  }

  insert(row: Omit<SessionRow, 'closed_at' | 'execution_count'>): void {
    this.stmts.insert!.run(row);
  }

  get(id: string): SessionRow | undefined {
    return this.stmts.get!.get(id) as SessionRow | undefined;
  }

  defaultFor(owner: string): SessionRow | undefined {
    return this.stmts.defaultFor!.get(owner) as SessionRow | undefined;
  }

  listOpen(owner?: string): SessionRow[] {
    if (owner === undefined) return this.stmts.listAll!.all() as SessionRow[];
    return this.stmts.listOwner!.all(owner) as SessionRow[];
  }

  /** Records a call: last use time and the execution counter it reached. */
  used(id: string, at: string, executionCount: number): void {
    this.stmts.used!.run(at, executionCount, id);
  }

  close(id: string, at: string): void {
    this.stmts.close!.run(at, id);
  }

  idleSince(before: string): SessionRow[] {
    return this.stmts.idle!.all(before) as SessionRow[];
  }
}
