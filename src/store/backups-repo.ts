// Backup manifests, their file rows and in-flight rollback markers: the only SQL the backups service needs. Never touches files.
import type { Db } from './db.js';

export type BackupReason = 'manual' | 'pre_rollback' | 'pre_cleanup' | 'auto';
export type EntryKind = 'file' | 'dir' | 'symlink';

export interface BackupRow {
  id: number;
  session_id: string;
  name: string;
  created_at: string;
  reason: BackupReason;
  status: 'pending' | 'complete';
  pid: number;
  file_count: number;
  total_size: number;
  /** JSON: Array<{ path, reason }>. */
  skipped: string;
}

export interface BackupFileRow {
  path: string;
  kind: EntryKind;
  size: number;
  mode: number;
  sha256: string | null;
  target: string | null;
  category: string | null;
  mtime_ms: number;
  /** inode, size and nanosecond times seen before the file was read; null when too fresh to trust. */
  stat_key: string | null;
}

export interface RollbackMarkerRow {
  id: number;
  session_id: string;
  backup_name: string;
  workspace: string;
  pid: number;
  started_at: string;
}

function prepareStatements(db: Db) {
  const fileCols = 'path, kind, size, mode, sha256, target, category, mtime_ms, stat_key';
  return {
    nameTaken: db.prepare('SELECT 1 FROM backups WHERE session_id = ? AND name = ?'),
    namesLike: db.prepare('SELECT name FROM backups WHERE session_id = ? AND substr(name, 1, ?) = ?'),
    insertPending: db.prepare(
      `INSERT INTO backups (session_id, name, created_at, reason, status, pid)
       VALUES (@session_id, @name, @created_at, @reason, 'pending', @pid)`,
    ),
    insertFile: db.prepare(
      `INSERT INTO backup_files (backup_id, path, kind, size, mode, sha256, target, category, mtime_ms, stat_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateFileContent: db.prepare(
      'UPDATE backup_files SET sha256 = ?, size = ?, stat_key = NULL WHERE backup_id = ? AND path = ?',
    ),
    deleteFile: db.prepare('DELETE FROM backup_files WHERE backup_id = ? AND path = ?'),
    // The totals column is not written: per-category totals are derived from the file rows when read.
    complete: db.prepare(
      `UPDATE backups SET status = 'complete', file_count = @file_count, total_size = @total_size,
         skipped = @skipped WHERE id = @id`,
    ),
    deleteById: db.prepare('DELETE FROM backups WHERE id = ?'),
    getComplete: db.prepare(
      "SELECT * FROM backups WHERE session_id = ? AND name = ? AND status = 'complete'",
    ),
    listComplete: db.prepare(
      "SELECT * FROM backups WHERE session_id = ? AND status = 'complete' ORDER BY created_at DESC, id DESC",
    ),
    uniqueBytes: db.prepare(
      `SELECT COALESCE(SUM(size), 0) AS bytes FROM (
         SELECT f.sha256, MAX(f.size) AS size FROM backup_files f
         WHERE f.backup_id = ? AND f.sha256 IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM backup_files g WHERE g.sha256 = f.sha256 AND g.backup_id <> f.backup_id)
         GROUP BY f.sha256)`,
    ),
    files: db.prepare(`SELECT ${fileCols} FROM backup_files WHERE backup_id = ? ORDER BY path`),
    file: db.prepare(`SELECT ${fileCols} FROM backup_files WHERE backup_id = ? AND path = ?`),
    latestComplete: db.prepare(
      "SELECT id FROM backups WHERE session_id = ? AND status = 'complete' ORDER BY created_at DESC, id DESC LIMIT 1",
    ),
    statCache: db.prepare(
      `SELECT ${fileCols} FROM backup_files WHERE backup_id = ? AND stat_key IS NOT NULL AND kind = 'file'`,
    ),
    distinctShas: db.prepare(
      'SELECT DISTINCT sha256 FROM backup_files WHERE backup_id = ? AND sha256 IS NOT NULL',
    ),
    isReferenced: db.prepare('SELECT 1 FROM backup_files WHERE sha256 = ? LIMIT 1'),
    allReferencedShas: db.prepare('SELECT DISTINCT sha256 FROM backup_files WHERE sha256 IS NOT NULL'),
    pendingBackups: db.prepare("SELECT * FROM backups WHERE status = 'pending'"),
    insertRollback: db.prepare(
      `INSERT INTO backup_rollbacks (session_id, backup_name, workspace, pid, started_at)
       VALUES (@session_id, @backup_name, @workspace, @pid, @started_at)`,
    ),
    rollbackForWorkspace: db.prepare('SELECT * FROM backup_rollbacks WHERE workspace = ?'),
    rollbacks: db.prepare('SELECT * FROM backup_rollbacks ORDER BY id'),
    rollbackSources: db.prepare('SELECT backup_name FROM backup_rollbacks WHERE session_id = ?'),
    deleteRollback: db.prepare('DELETE FROM backup_rollbacks WHERE id = ?'),
  };
}

export class BackupsRepo {
  // Prepared once: cleanup checks one statement per blob, and it runs on every session close.
  private readonly stmts: ReturnType<typeof prepareStatements>;

  constructor(private readonly db: Db) {
    this.stmts = prepareStatements(db);
  }

  /**
   * Runs fn in a BEGIN IMMEDIATE transaction. Blob deletion and blob references both happen inside one, so a
   * garbage collector in any process can never delete a blob between "it exists" and "a manifest names it".
   */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  nameTaken(sessionId: string, name: string): boolean {
    return this.stmts.nameTaken.get(sessionId, name) !== undefined;
  }

  /** Names starting with prefix, any status; used to pick a free default name in one query. */
  namesLike(sessionId: string, prefix: string): string[] {
    const rows = this.stmts.namesLike.all(sessionId, prefix.length, prefix) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  insertPending(row: {
    session_id: string;
    name: string;
    created_at: string;
    reason: BackupReason;
    pid: number;
  }): number {
    return Number(this.stmts.insertPending.run(row).lastInsertRowid);
  }

  insertFiles(backupId: number, rows: readonly BackupFileRow[]): void {
    const stmt = this.stmts.insertFile!;
    for (const r of rows) {
      stmt.run(
        backupId,
        r.path,
        r.kind,
        r.size,
        r.mode,
        r.sha256,
        r.target,
        r.category,
        r.mtime_ms,
        r.stat_key,
      );
    }
  }

  updateFileContent(backupId: number, path: string, sha256: string, size: number): void {
    this.stmts.updateFileContent.run(sha256, size, backupId, path);
  }

  deleteFile(backupId: number, path: string): void {
    this.stmts.deleteFile.run(backupId, path);
  }

  complete(id: number, summary: { file_count: number; total_size: number; skipped: string }): void {
    this.stmts.complete.run({ id, ...summary });
  }

  deleteById(id: number): void {
    this.stmts.deleteById.run(id);
  }

  getComplete(sessionId: string, name: string): BackupRow | undefined {
    return this.stmts.getComplete.get(sessionId, name) as BackupRow | undefined;
  }

  /** Complete backups of a session, newest first. */
  listComplete(sessionId: string): BackupRow[] {
    return this.stmts.listComplete.all(sessionId) as BackupRow[];
  }

  /** Bytes of the distinct blobs this backup references that no other manifest (any session) references. */
  uniqueBytes(backupId: number): number {
    return (this.stmts.uniqueBytes.get(backupId) as { bytes: number }).bytes;
  }

  files(backupId: number): BackupFileRow[] {
    return this.stmts.files.all(backupId) as BackupFileRow[];
  }

  file(backupId: number, path: string): BackupFileRow | undefined {
    return this.stmts.file.get(backupId, path) as BackupFileRow | undefined;
  }

  /** Rows a new backup may reuse without reading the file again, from the session's newest complete backup. */
  statCache(sessionId: string): BackupFileRow[] {
    const latest = this.stmts.latestComplete.get(sessionId) as { id: number } | undefined;
    if (!latest) return [];
    return this.stmts.statCache.all(latest.id) as BackupFileRow[];
  }

  distinctShas(backupIds: readonly number[]): string[] {
    const stmt = this.stmts.distinctShas!;
    const out = new Set<string>();
    for (const id of backupIds) for (const r of stmt.all(id) as Array<{ sha256: string }>) out.add(r.sha256);
    return [...out];
  }

  isReferenced(sha256: string): boolean {
    return this.stmts.isReferenced.get(sha256) !== undefined;
  }

  allReferencedShas(): Set<string> {
    const rows = this.stmts.allReferencedShas.all() as Array<{ sha256: string }>;
    return new Set(rows.map((r) => r.sha256));
  }

  pendingBackups(): BackupRow[] {
    return this.stmts.pendingBackups.all() as BackupRow[];
  }

  insertRollback(row: Omit<RollbackMarkerRow, 'id'>): number {
    return Number(this.stmts.insertRollback.run(row).lastInsertRowid);
  }

  rollbackForWorkspace(workspace: string): RollbackMarkerRow | undefined {
    return this.stmts.rollbackForWorkspace.get(workspace) as RollbackMarkerRow | undefined;
  }

  rollbacks(): RollbackMarkerRow[] {
    return this.stmts.rollbacks.all() as RollbackMarkerRow[];
  }

  rollbackSources(sessionId: string): string[] {
    const rows = this.stmts.rollbackSources.all(sessionId) as Array<{ backup_name: string }>;
    return rows.map((r) => r.backup_name);
  }

  deleteRollback(id: number): void {
    this.stmts.deleteRollback.run(id);
  }
}
