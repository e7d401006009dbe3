// zod schema of an execute's result as the session service returns it: the one source of its type and of the tool's.
import { z } from 'zod';
import { ArtifactChangesSchema } from '../artifacts/result-schemas.js';
import { ErrorBodySchema } from '../errors.js';

/** A notebook MIME bundle: text/plain, text/html, image/png… keyed by type. */
export const MimeBundleSchema = z.record(z.string(), z.unknown());

/** A call's two output streams (head and tail kept) and the workspace files holding them whole when truncated. */
export const OutputStreamsShape = {
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  full_output: z.object({ stdout: z.string().optional(), stderr: z.string().optional() }),
};

/** What a call did to the workspace, at most MAX_LISTED_CHANGES paths listed; the counts are always whole. */
export const BoundedChangesSchema = ArtifactChangesSchema.extend({
  counts: z.object({ created: z.number(), changed: z.number(), deleted: z.number() }),
  omitted: z.number().describe('Paths left out of the three lists.'),
  more: z.string().nullable().describe('How to list what was left out.'),
});

/** What ran the call: a bubblewrap box, a Docker box, or nothing (`--isolation none`). */
export const IsolationSchema = z.enum(['bwrap', 'docker', 'none']);

export const ExecuteResultSchema = z.object({
  session_id: z.string(),
  status: z.enum(['ok', 'error', 'timeout', 'interrupted', 'memory_limit', 'killed']),
  execution_count: z.number(),
  duration_ms: z.number(),
  ...OutputStreamsShape,
  /** The final expression's value as a notebook shows it (text/plain, text/html...). */
  result: MimeBundleSchema.nullable(),
  displays: z.array(MimeBundleSchema),
  error: ErrorBodySchema.nullable(),
  state_preserved: z.boolean(),
  kernel_restarted: z.boolean(),
  notices: z.array(z.string()),
  usage: z.object({
    cpu_user_ms: z.number().nullable(),
    cpu_system_ms: z.number().nullable(),
    max_rss_kb: z.number().nullable(),
    memory_peak_bytes: z.number().nullable(),
    pids: z.number().nullable(),
  }),
  isolation: IsolationSchema,
  /** Files the call created, changed and deleted in the workspace (null when tracking is off). */
  artifacts: ArtifactChangesSchema.nullable(),
});
