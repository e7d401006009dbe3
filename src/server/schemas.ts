// zod schemas shared by several tools' inputs and outputs.
import { z } from 'zod';
import { CATEGORIES } from '../artifacts/types.js';
import { ERROR_CODES } from '../errors.js';
import { shareAs } from './schemas-lean.js';

export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
  hint: z.string().optional(),
});

export const SessionIdArg = z.string().max(200).optional().describe('Omit for your default session.');

export const SessionInfoSchema = z.object({
  session_id: z.string(),
  name: z.string().nullable(),
  is_default: z.boolean(),
  created_at: z.string(),
  last_used_at: z.string(),
  timeout_s: z.number(),
  memory_mb: z.number(),
  pids: z.number(),
  network: z.string(),
  execution_count: z.number(),
  running: z.boolean(),
  workspace: z.string(),
});

export const MimeBundleSchema = z.record(z.string(), z.unknown());

export const CategorySchema = z.enum(CATEGORIES);

export const ArtifactSchema = shareAs(
  'Artifact',
  z.object({
    path: z.string(),
    category: CategorySchema,
    mime: z.string(),
    size: z.number(),
    sha256: z.string().nullable(),
    mtime: z.string(),
    uri: z.string(),
  }),
);

/** What a call did to the workspace, at most MAX_LISTED_CHANGES paths listed; the counts are always whole. */
export const ArtifactChangesSchema = z.object({
  created: z.array(ArtifactSchema),
  changed: z.array(ArtifactSchema),
  deleted: z.array(z.string()),
  counts: z.object({ created: z.number(), changed: z.number(), deleted: z.number() }),
  omitted: z.number().describe('Paths left out of the three lists.'),
  more: z.string().nullable().describe('How to list what was left out.'),
});

/** Paging for lists that can be long: pass next_cursor back as cursor, with the same filters. */
export const CursorArg = z.string().max(2000).optional().describe('next_cursor of the previous page.');
export const NextCursor = z.string().nullable().describe('null on the last page.');

export const CleanupResultSchema = z.object({
  scope: z.string(),
  removed: z.array(z.object({ path: z.string(), category: CategorySchema, size: z.number() })),
  removed_count: z.number(),
  removed_bytes: z.number(),
  failed: z.array(z.object({ path: z.string(), error: z.string() })),
  backup: z.string().nullable().optional(),
  backup_skipped: z.string().optional(),
});
