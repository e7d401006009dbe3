// The status page's reads from the database: one page of a session's execution history, a backup's file list.
// Read-only: never writes a row, never enters a session's call queue, never touches the workspace.
import type { Statement } from 'better-sqlite3';
import { BackupsRepo } from '../store/backups-repo.js';
import type { Db } from '../store/db.js';
import type { ExecutionRow } from '../store/executions-repo.js';

export interface StatusStore {
  /** The newest `limit` Python calls numbered below `before` (all when null), oldest first. */
  history(sessionId: string, before: number | null, limit: number): ExecutionRow[];
  /** The files of a finished backup, or null when the session has no backup of that name. */
  backupFiles(
    sessionId: string,
    name: string,
  ): Array<{ path: string; kind: string; size: number; category: string | null }> | null;
}

/** flush: writes the history rows still queued behind their calls, so the page sees every call that ended. */
export function statusStore(db: Db, flush: () => void): StatusStore {
  const page: Statement = db.prepare(
    `SELECT * FROM (SELECT * FROM executions WHERE session_id = ? AND kind = 'python' AND execution_count < ?
       ORDER BY execution_count DESC LIMIT ?) ORDER BY execution_count`,
  );
  const backups = new BackupsRepo(db);
  return {
    history(sessionId, before, limit) {
      flush();
      return page.all(sessionId, before ?? Number.MAX_SAFE_INTEGER, limit) as ExecutionRow[];
    },
    backupFiles(sessionId, name) {
      const b = backups.getComplete(sessionId, name);
      if (!b) return null;
      return backups
        .files(b.id)
        .filter((f) => f.kind !== 'dir')
        .map((f) => ({ path: f.path, kind: f.kind, size: f.size, category: f.category }));
    },
  };
}
