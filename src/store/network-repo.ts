// A session's network allowlist rules (as written by users, e.g. "*.example.com"). Nothing outside store/ writes SQL.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export class NetworkRepo {
  private readonly put: Statement;
  private readonly get: Statement;

  constructor(db: Db) {
    this.put = db.prepare(
      'INSERT INTO session_network (session_id, rules) VALUES (?, ?) ON CONFLICT(session_id) DO UPDATE SET rules = excluded.rules',
    );
    this.get = db.prepare('SELECT rules FROM session_network WHERE session_id = ?');
  }

  setRules(sessionId: string, rules: readonly string[]): void {
    this.put.run(sessionId, JSON.stringify(rules));
  }

  rules(sessionId: string): string[] {
    const row = this.get.get(sessionId) as { rules: string } | undefined;
    if (!row) return [];
    const parsed: unknown = JSON.parse(row.rules);
    return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string') : [];
  }
}
