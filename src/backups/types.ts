// Typed inputs and results of the backups service; plain data only, never MCP types or behaviour. The results'
// types come from their zod schemas (result-schemas.ts), which the backup tools publish as their output schemas.
import type { z } from 'zod';
import type { BackupReason } from '../store/backups-repo.js';
import type {
  BackupDetailsSchema,
  BackupResultSchema,
  BackupSummarySchema,
  CategoryTotalSchema,
  ChangeSetSchema,
  CleanupResultSchema,
  DiffResultSchema,
  ManifestItemSchema,
  RestoreFileResultSchema,
  RollbackResultSchema,
  SkippedEntrySchema,
  VerifyResultSchema,
} from './result-schemas.js';

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

export interface CleanupOptions {
  /** Backup names that must survive whatever their age. */
  keep?: readonly string[] | undefined;
}

export interface RollbackOptions {
  onProgress?: ProgressFn | undefined;
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

export type SkippedEntry = z.infer<typeof SkippedEntrySchema>;
export type CategoryTotal = z.infer<typeof CategoryTotalSchema>;
export type CleanupResult = z.infer<typeof CleanupResultSchema>;
export type BackupResult = z.infer<typeof BackupResultSchema>;
export type BackupSummary = z.infer<typeof BackupSummarySchema>;
export type ManifestItem = z.infer<typeof ManifestItemSchema>;
export type ChangeSet = z.infer<typeof ChangeSetSchema>;
export type BackupDetails = z.infer<typeof BackupDetailsSchema>;
export type CategoryDetails = BackupDetails['categories'][string];
export type DiffResult = z.infer<typeof DiffResultSchema>;
export type VerifyResult = z.infer<typeof VerifyResultSchema>;
export type RollbackResult = z.infer<typeof RollbackResultSchema>;
export type RestoreFileResult = z.infer<typeof RestoreFileResultSchema>;
