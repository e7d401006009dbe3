// What the database keeps, and for how long: execution history per session (the newest `historyKeep` calls, by a
// trigger on every insert, and none older than `historyDays`), audit rows younger than `auditDays`, no rows of closed
// sessions. The pages the deleted rows held go back to the disk (incremental vacuum).
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface RetentionSettings {
  historyKeep: number;
  historyDays: number;
  auditDays: number;
}

export interface RetentionSweep {
  executions: number;
  audit: number;
  sessions: number;
  /** Bytes the database file gave back to the disk. */
  reclaimed_bytes: number;
}

const DAY_MS = 86_400_000;
/** A closed session's row stays this long, so the history rows written behind its last calls still find it. */
const CLOSED_GRACE_MS = 60_000;

export class Retention {
  private readonly stmts: Record<'executions' | 'audit' | 'sessions', Statement>;

  constructor(
    private readonly db: Db,
    private readonly settings: RetentionSettings,
  ) {
    const keep = Math.max(1, Math.floor(settings.historyKeep));
    // A temporary trigger lives with this connection and carries this process's setting: every insert (the
    // write-behind queue's included) trims its session's history to the newest `keep` calls.
    db.exec(`DROP TRIGGER IF EXISTS temp.executions_keep;
      CREATE TEMP TRIGGER executions_keep AFTER INSERT ON main.executions BEGIN
        DELETE FROM main.executions
         WHERE session_id = NEW.session_id AND execution_count <= NEW.execution_count - ${keep};
      END;`);
    this.stmts = {
      executions: db.prepare('DELETE FROM executions WHERE started_at < ?'),
      audit: db.prepare('DELETE FROM audit_log WHERE at < ?'),
      sessions: db.prepare('DELETE FROM sessions WHERE closed_at IS NOT NULL AND closed_at < ?'),
    };
  }

  /** Deletes what is past its time and gives the freed pages back; throws what SQLite throws (a full disk). */
  sweep(now = Date.now()): RetentionSweep {
    return { ...this.deleteExpired(now), reclaimed_bytes: this.reclaim() };
  }

  /** The deletions alone (three indexed DELETEs, no disk flush): what must be gone before any row is served. */
  deleteExpired(now = Date.now()): Omit<RetentionSweep, 'reclaimed_bytes'> {
    const iso = (ms: number) => new Date(ms).toISOString();
    return this.db.transaction(() => ({
      executions: this.stmts.executions.run(iso(now - this.settings.historyDays * DAY_MS)).changes,
      audit: this.stmts.audit.run(iso(now - this.settings.auditDays * DAY_MS)).changes,
      sessions: this.stmts.sessions.run(iso(now - CLOSED_GRACE_MS)).changes,
    }))();
  }

  /** Gives the free pages back to the disk; the bytes given back. */
  reclaim(): number {
    const before = this.fileBytes();
    this.db.pragma('incremental_vacuum');
    // The WAL holds the vacuumed pages until a checkpoint writes them back; TRUNCATE also empties the file.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return Math.max(0, before - this.fileBytes());
  }

  private fileBytes(): number {
    const count = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return count * size;
  }
}
