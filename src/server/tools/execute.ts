// The code-running tools: execute and its older name execute_with_artifacts.
import { z } from 'zod';
import { ACTS, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { ArtifactChangesSchema, ErrorBodySchema, MimeBundleSchema, SessionIdArg } from '../schemas.js';
import { changeLinks } from '../artifact-links.js';
import { executeText, imageBlocks } from '../execute-format.js';
import { boundChanges } from '../../sessions/execute-result.js';

const ExecuteInput = z.object({
  code: z.string().max(1_000_000).describe('Python source to run, like a notebook cell.'),
  session_id: SessionIdArg,
  timeout: z.number().positive().max(86400).optional().describe('Wall-clock limit for this call, seconds.'),
});

const ExecuteOutput = z.object({
  session_id: z.string(),
  status: z.enum(['ok', 'error', 'timeout', 'interrupted', 'memory_limit', 'killed']),
  execution_count: z.number(),
  duration_ms: z.number(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  full_output: z.object({ stdout: z.string().optional(), stderr: z.string().optional() }),
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
  isolation: z.enum(['bwrap', 'docker', 'none']),
  artifacts: ArtifactChangesSchema.nullable(),
});

async function runExecute(args: z.infer<typeof ExecuteInput>, ctx: ToolCtx) {
  const since = new Date().toISOString();
  const run = await ctx.services.sessions.execute(ctx.client.clientKey, args.session_id, args.code, {
    timeout_s: args.timeout,
    signal: ctx.signal,
    onProgress: ctx.progressText,
  });
  const r = { ...run, artifacts: boundChanges(run.artifacts, since) };
  const extra = [...imageBlocks(r, ctx.services.config.imageInlineCap), ...changeLinks(r.artifacts)];
  const result = okResult(r, executeText(r), extra);
  // A failed run is still a full result: the error body sits in structuredContent.error next to the output.
  if (r.error) result.isError = true;
  return result;
}

export type NetworkMode = 'none' | 'allowlist' | 'full';

/** What agents read about the network, true for this server: its default policy, and where a session's is shown. */
export function networkSentence(networkDefault: NetworkMode): string {
  const what = {
    none: 'no network',
    allowlist: "only allowlisted domains, through the sandbox's proxy",
    full: "the host's network",
  }[networkDefault];
  return `Network: the session's policy (for new sessions on this server: ${what}; get_sandbox_limitations shows a session's).`;
}

export function executeTools(defaultTimeoutS: number, networkDefault: NetworkMode = 'none'): ToolDef[] {
  const description =
    'Run Python code in a persistent, isolated session (variables, imports and functions survive between calls). ' +
    'Returns stdout, stderr, the value of a final expression (as a notebook shows it), duration and resource usage. ' +
    `Each call is limited to the session's timeout (default ${defaultTimeoutS} s, the most this server allows; pass a smaller timeout to shorten it) and memory; ` +
    'long output is capped (head and tail kept, the whole saved in the workspace). Errors come back with a code: ' +
    'syntax_error, truncated_code, import_error, runtime_error, timeout, memory_limit. ' +
    networkSentence(networkDefault);

  return [
    defineTool({
      name: 'execute',
      title: 'Run Python',
      domain: 'execute',
      profile: 'core',
      description,
      inputSchema: ExecuteInput,
      outputSchema: ExecuteOutput,
      annotations: ACTS,
      handler: runExecute,
    }),
    defineTool({
      name: 'execute_with_artifacts',
      title: 'Run Python (with artifacts)',
      domain: 'execute',
      profile: 'full',
      description: 'Same as execute; kept for clients that know this name. ' + description,
      inputSchema: ExecuteInput.extend({
        track_artifacts: z
          .boolean()
          .optional()
          .describe('Report files the call created or changed (always on).'),
      }),
      outputSchema: ExecuteOutput,
      annotations: ACTS,
      handler: (args, ctx) => runExecute(args, ctx),
    }),
  ];
}
