// Typed inputs and results of the backups service; plain data only, never MCP types or behaviour.
import type { BackupReason } from '../store/backups-repo.js';

export type { BackupReason } from '../store/backups-repo.js';

export const BACKUP_REASONS: readonly BackupReason[] = ['manual', 'pre_rollback', 'pre_cleanup', 'auto'];

/** Reports progress of a long operation: `done` of `total` steps (files, for backup and rollback). */
export type ProgressFn = (done: number, total: number) => void;

/** Decides a file's category from its workspace-relative path and its first bytes; `complete` when they are the whole file. */
export type CategorizeFn = (
  relPath: string,
  head: Uint8Array,
  complete?: boolean,
) => { category: string } | Promise<{ category: string }>;

export interface BackupOptions {
  /** Letters, digits, '-' and '_', 1–64 characters; default `backup_<UTC timestamp>`. */
  name?: string | undefined;
  reason: BackupReason;
  onProgress?: ProgressFn | undefined;
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface CategoryTotal {
  files: number;
  bytes: number;
}

export interface CleanupOptions {
  /** Backup names that must survive whatever their age. */
  keep?: readonly string[] | undefined;
}

export interface CleanupResult {
  deleted: string[];
  kept: string[];
  blobs_deleted: number;
  bytes_freed: number;
}

export interface BackupResult {
  name: string;
  created_at: string;
  reason: BackupReason;
  /** Regular files and symlinks; folders are recorded too but not counted. */
  file_count: number;
  total_size: number;
  /** Bytes this backup added to the blob store (0 when every file's content was already stored). */
  new_bytes: number;
  /** Files whose content was taken from the previous manifest because inode, size and times were unchanged. */
  unchanged_files_reused: number;
  totals: Record<string, CategoryTotal>;
  skipped: SkippedEntry[];
  duration_ms: number;
  /** The retention pass that ran after this backup, when a limit is configured. */
  retention: CleanupResult | null;
}

export interface BackupSummary {
  name: string;
  created_at: string;
  reason: BackupReason;
  file_count: number;
  total_size: number;
  /** Bytes of blobs no other manifest references: what deleting this backup alone would free. */
  unique_bytes: number;
}

export interface ManifestItem {
  path: string;
  kind: 'file' | 'symlink';
  size: number;
  mode: number;
  sha256: string | null;
  target: string | null;
  mtime: string;
}

export interface CategoryDetails extends CategoryTotal {
  items: ManifestItem[];
}

export interface ChangeSet {
  /** Paths present on the newer side only. */
  added: string[];
  /** Paths on both sides whose type, content, link target or permissions differ. */
  changed: string[];
  /** Paths present on the older side only. */
  deleted: string[];
}

export interface BackupDetails extends BackupSummary {
  totals: Record<string, CategoryTotal>;
  categories: Record<string, CategoryDetails>;
  folders: string[];
  skipped: SkippedEntry[];
  /** From the backup to the current workspace: what was added, changed and deleted since. */
  diff_vs_workspace: ChangeSet;
}

export interface DiffResult extends ChangeSet {
  from: string;
  to: string;
}

export interface VerifyResult {
  name: string;
  ok: boolean;
  checked_files: number;
  checked_blobs: number;
  /** Workspace paths whose blob is gone. */
  missing: string[];
  /** Workspace paths whose blob no longer hashes to its name. */
  corrupt: string[];
}

export interface RollbackOptions {
  onProgress?: ProgressFn | undefined;
}

export interface RollbackResult {
  backup: string;
  /** Files and symlinks written because the workspace lacked them or held different content. */
  restored_files: number;
  /** Files and symlinks removed because the backup does not have them. */
  removed_files: number;
  unchanged_files: number;
  /** The backup of the state just before the rollback; rolling back to it undoes this rollback. */
  pre_rollback_backup: string;
  /** Entries the rollback removed that the pre_rollback backup could not hold (links pointing outside, sockets…). */
  not_backed_up: SkippedEntry[];
  /** False: the workspace folder keeps its inode, so a running box sees the restored files at once. */
  python_restarted_required: boolean;
  duration_ms: number;
}

export interface RestoreFileResult {
  path: string;
  kind: 'file' | 'symlink';
  size: number;
  sha256: string | null;
}

export interface RecoverReport {
  /** `<session>:<backup>` of rollbacks interrupted after their commit point and finished now. */
  rollbacks_completed: string[];
  /** `<session>:<backup>` of rollbacks interrupted before their commit point; the workspace kept its old state. */
  rollbacks_abandoned: string[];
  /** Rollbacks whose recovery failed; they are retried by the next recover(). */
  failed: Array<{ workspace: string; error: string }>;
  pending_backups_removed: number;
}
