// zod schema of shell_execute's result as the shell service returns it: the one source of its type and of the tool's.
import { z } from 'zod';
import { ArtifactChangesSchema } from '../artifacts/result-schemas.js';
import { ErrorBodySchema } from '../errors.js';
import { IsolationSchema, OutputStreamsShape } from '../sessions/execute-result-schema.js';

export const ShellResultSchema = z.object({
  session_id: z.string(),
  command: z.string(),
  working_directory: z.string(),
  /** ok: the command ran to its end (whatever its exit code); timeout / interrupted: it was killed. */
  status: z.enum(['ok', 'timeout', 'interrupted']),
  exit_code: z.number().nullable(),
  signal: z.number().nullable(),
  duration_ms: z.number(),
  ...OutputStreamsShape,
  /** Files the command created, changed or deleted; null when no tracker is configured. */
  artifacts: ArtifactChangesSchema.nullable(),
  error: ErrorBodySchema.nullable(),
  isolation: IsolationSchema,
  notices: z.array(z.string()),
});
