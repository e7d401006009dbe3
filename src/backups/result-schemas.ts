// zod schemas of the backups service's results: the one source of their types (types.ts) and of the tools' output.
import { z } from 'zod';

export const SkippedEntrySchema = z.object({ path: z.string(), reason: z.string() });

export const CategoryTotalSchema = z.object({ files: z.number(), bytes: z.number() });

export const CategoryTotalsSchema = z.record(z.string(), CategoryTotalSchema);

export const CleanupResultSchema = z.object({
  deleted: z.array(z.string()),
  kept: z.array(z.string()),
  blobs_deleted: z.number(),
  bytes_freed: z.number(),
});

export const BackupResultSchema = z.object({
  name: z.string(),
  created_at: z.string(),
  reason: z.string(),
  /** Regular files and symlinks; folders are recorded too but not counted. */
  file_count: z.number(),
  total_size: z.number(),
  /** Bytes this backup added to the blob store (0 when every file's content was already stored). */
  new_bytes: z.number(),
  /** Files whose content was taken from the previous manifest because inode, size and times were unchanged. */
  unchanged_files_reused: z.number(),
  totals: CategoryTotalsSchema,
  skipped: z.array(SkippedEntrySchema),
  duration_ms: z.number(),
  /** The retention pass that ran after this backup, when a limit is configured. */
  retention: CleanupResultSchema.nullable(),
});

export const BackupSummarySchema = z.object({
  name: z.string(),
  created_at: z.string(),
  reason: z.string(),
  file_count: z.number(),
  total_size: z.number(),
  /** Bytes of blobs no other manifest references: what deleting this backup alone would free. */
  unique_bytes: z.number(),
});

export const ManifestItemSchema = z.object({
  path: z.string(),
  kind: z.enum(['file', 'symlink']),
  size: z.number(),
  mode: z.number(),
  sha256: z.string().nullable(),
  target: z.string().nullable(),
  mtime: z.string(),
});

export const ChangeSetSchema = z.object({
  /** Paths present on the newer side only. */
  added: z.array(z.string()),
  /** Paths on both sides whose type, content, link target or permissions differ. */
  changed: z.array(z.string()),
  /** Paths present on the older side only. */
  deleted: z.array(z.string()),
});

export const BackupDetailsSchema = BackupSummarySchema.extend({
  totals: CategoryTotalsSchema,
  categories: z.record(z.string(), CategoryTotalSchema.extend({ items: z.array(ManifestItemSchema) })),
  folders: z.array(z.string()),
  skipped: z.array(SkippedEntrySchema),
  /** From the backup to the current workspace: what was added, changed and deleted since. */
  diff_vs_workspace: ChangeSetSchema,
});

export const DiffResultSchema = ChangeSetSchema.extend({ from: z.string(), to: z.string() });

export const VerifyResultSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  checked_files: z.number(),
  checked_blobs: z.number(),
  /** Workspace paths whose blob is gone. */
  missing: z.array(z.string()),
  /** Workspace paths whose blob no longer hashes to its name. */
  corrupt: z.array(z.string()),
});

export const RollbackResultSchema = z.object({
  backup: z.string(),
  /** Files and symlinks written because the workspace lacked them or held different content. */
  restored_files: z.number(),
  /** Files and symlinks removed because the backup does not have them. */
  removed_files: z.number(),
  unchanged_files: z.number(),
  /** The backup of the state just before the rollback; rolling back to it undoes this rollback. */
  pre_rollback_backup: z.string(),
  /** Entries the rollback removed that the pre_rollback backup could not hold (links pointing outside, sockets…). */
  not_backed_up: z.array(SkippedEntrySchema),
  /** False: the workspace folder keeps its inode, so a running box sees the restored files at once. */
  python_restarted_required: z.boolean(),
  duration_ms: z.number(),
});

export const RestoreFileResultSchema = z.object({
  path: z.string(),
  kind: z.string(),
  size: z.number(),
  sha256: z.string().nullable(),
});
