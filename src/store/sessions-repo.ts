// Session rows: the metadata that survives a server restart. Nothing outside store/ writes SQL.
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
  constructor(private readonly db: Db) {}

  insert(row: Omit<SessionRow, 'closed_at' | 'execution_count'>): void {
    this.db
      .prepare(
        `INSERT INTO sessions (id, owner, name, is_default, created_at, last_used_at, timeout_s, memory_mb, pids, network)
         VALUES (@id, @owner, @name, @is_default, @created_at, @last_used_at, @timeout_s, @memory_mb, @pids, @network)`,
      )
      .run(row);
  }

  get(id: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM sessions WHERE id = ? AND closed_at IS NULL').get(id) as
      | SessionRow
      | undefined;
  }

  defaultFor(owner: string): SessionRow | undefined {
    return this.db
      .prepare('SELECT * FROM sessions WHERE owner = ? AND is_default = 1 AND closed_at IS NULL')
      .get(owner) as SessionRow | undefined;
  }

  listOpen(owner?: string): SessionRow[] {
    if (owner === undefined) {
      return this.db.prepare('SELECT * FROM sessions WHERE closed_at IS NULL ORDER BY created_at').all() as SessionRow[];
    }
    return this.db
      .prepare('SELECT * FROM sessions WHERE owner = ? AND closed_at IS NULL ORDER BY created_at')
      .all(owner) as SessionRow[];
  }

  touch(id: string, at: string): void {
    this.db.prepare('UPDATE sessions SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  nextExecutionCount(id: string): number {
    const row = this.db
      .prepare('UPDATE sessions SET execution_count = execution_count + 1 WHERE id = ? RETURNING execution_count')
      .get(id) as { execution_count: number } | undefined;
    return row?.execution_count ?? 0;
  }

  close(id: string, at: string): void {
    this.db.prepare('UPDATE sessions SET closed_at = ? WHERE id = ?').run(at, id);
  }

  idleSince(before: string): SessionRow[] {
    return this.db
      .prepare('SELECT * FROM sessions WHERE closed_at IS NULL AND last_used_at < ?')
      .all(before) as SessionRow[];
  }
}
