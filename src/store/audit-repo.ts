// Audit log rows: who ran what kind of call in which session, when, with what outcome. Insert and read only;
// nothing updates an audit row, and only retention (retention.ts) deletes one, once it is past --audit-days.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface AuditRow {
  id: number;
  session_id: string;
  owner: string;
  at: string;
  kind: string;
  sha256: string;
  status: string;
  duration_ms: number | null;
  /** JSON object or null. */
  detail: string | null;
}

export type NewAuditRow = Omit<AuditRow, 'id'>;

export class AuditRepo {
  private readonly insertStmt: Statement;
  private readonly byOwner: Statement;
  private readonly bySession: Statement;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO audit_log (session_id, owner, at, kind, sha256, status, duration_ms, detail)
       VALUES (@session_id, @owner, @at, @kind, @sha256, @status, @duration_ms, @detail)`,
    );
    this.byOwner = db.prepare('SELECT * FROM audit_log WHERE owner = ? ORDER BY id DESC LIMIT ?');
    this.bySession = db.prepare(
      'SELECT * FROM audit_log WHERE owner = ? AND session_id = ? ORDER BY id DESC LIMIT ?',
    );
  }

  insert(row: NewAuditRow): void {
    this.insertStmt.run(row);
  }

  /** Newest first; only the owner's rows, whatever session id is asked for. */
  list(owner: string, sessionId: string | undefined, limit: number): AuditRow[] {
    const rows =
      sessionId === undefined ? this.byOwner.all(owner, limit) : this.bySession.all(owner, sessionId, limit);
    return rows as AuditRow[];
  }
}
