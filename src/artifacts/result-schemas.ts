// zod schemas of the artifacts service's results: the one source of their types (types.ts) and of the tools' output.
import { z } from 'zod';
import { CATEGORIES } from '../workspace/categories.js';

export const CategorySchema = z.enum(CATEGORIES);

export const ArtifactSchema = z.object({
  /** Workspace-relative, posix separators. */
  path: z.string(),
  category: CategorySchema,
  mime: z.string(),
  size: z.number(),
  /** Hex sha256 of the content; null when the server could not read the file or did not read it whole (a notice says why). */
  sha256: z.string().nullable(),
  /** ISO 8601 modification time. */
  mtime: z.string(),
  /** `sandbox://sessions/<id>/files/<path>`, each segment URI-encoded. */
  uri: z.string(),
});

export const ArtifactChangesSchema = z.object({
  created: z.array(ArtifactSchema),
  changed: z.array(ArtifactSchema),
  /** Workspace-relative paths that existed before the call and are gone after it. */
  deleted: z.array(z.string()),
});

export const ArtifactListSchema = z.object({
  artifacts: z.array(ArtifactSchema),
  total_count: z.number(),
  total_bytes: z.number(),
});

export const CategoryTotalsSchema = z.object({ count: z.number(), bytes: z.number() });

export const ArtifactReportSchema = z.object({
  total_count: z.number(),
  total_bytes: z.number(),
  /** Every category is present, with zeros when empty, so the shape never changes. */
  by_category: z.record(z.string(), CategoryTotalsSchema),
  most_recent: z.array(ArtifactSchema),
  largest: z.array(ArtifactSchema),
  generated_at: z.string(),
});

export const CategorizedArtifactsSchema = z.object({
  /** Only categories that hold at least one file; paths sorted. */
  categories: z.record(z.string(), z.array(z.string())),
  total_count: z.number(),
});

export const RemovedFileSchema = z.object({ path: z.string(), category: CategorySchema, size: z.number() });

export const CleanupResultSchema = z.object({
  scope: z.string(),
  removed: z.array(RemovedFileSchema),
  removed_count: z.number(),
  removed_bytes: z.number(),
  /** Files that matched but could not be removed, with the reason. */
  failed: z.array(z.object({ path: z.string(), error: z.string() })),
  /** Why no backup was taken before the removal (a full disk); absent when one was, or none was asked for. */
  backup_skipped: z.string().optional(),
});

export const WriteResultSchema = z.object({
  artifact: ArtifactSchema,
  /** False when an existing file was replaced. */
  created: z.boolean(),
});

/** read_file's result: text when the bytes are UTF-8 (encoding utf8), else base64. */
export const ReadResultSchema = z.object({
  path: z.string(),
  uri: z.string(),
  mime: z.string(),
  category: z.string(),
  /** Size of the whole file, even when only part of it was read. */
  size: z.number(),
  /** Where the bytes returned start, and how many there are. */
  offset: z.number(),
  length: z.number(),
  /** Where the rest starts; null when the range reaches the end of the file. */
  next_offset: z.number().nullable(),
  /** True when the result is not the whole file. */
  truncated: z.boolean(),
  encoding: z.enum(['utf8', 'base64']),
  text: z.string().optional(),
  base64: z.string().optional(),
});

export const NotebookExportSchema = z.object({
  path: z.string(),
  uri: z.string(),
  cell_count: z.number(),
  artifact: ArtifactSchema,
});
