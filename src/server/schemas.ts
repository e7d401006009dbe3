// zod schemas shared by several tools' inputs and outputs.
import { z } from 'zod';
import {
  ArtifactSchema as ArtifactResultSchema,
  CleanupResultSchema as ArtifactCleanupSchema,
} from '../artifacts/result-schemas.js';
import { BoundedChangesSchema } from '../sessions/execute-result-schema.js';
import { shareAs } from './schemas-lean.js';

export const SessionIdArg = z.string().max(200).optional().describe('Omit for your default session.');

/** Artifacts, written once under $defs where an output schema holds several. */
export const ArtifactSchema = shareAs('Artifact', ArtifactResultSchema);

/** What a call did to the workspace, within bounds (boundChanges builds it from the same schema). */
export const ArtifactChangesSchema = BoundedChangesSchema;

/** Paging for lists that can be long: pass next_cursor back as cursor, with the same filters. */
export const CursorArg = z.string().max(2000).optional().describe('next_cursor of the previous page.');
export const NextCursor = z.string().nullable().describe('null on the last page.');

/** A cleanup's result, with the backup taken before it (null: none). */
export const CleanupResultSchema = ArtifactCleanupSchema.omit({ backup_skipped: true }).extend({
  backup: z.string().nullable().optional(),
  backup_skipped: ArtifactCleanupSchema.shape.backup_skipped,
});
