// The code-running tools: execute and its older name execute_with_artifacts.
import { z } from 'zod';
import { ACTS, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { ArtifactChangesSchema, SessionIdArg } from '../schemas.js';
import { ExecuteResultSchema } from '../../sessions/execute-result-schema.js';
import { changeLinks } from '../artifact-links.js';
import { bundlesForResult, executeText } from '../execute-format.js';
import { BUNDLE_TEXT_CAP } from '../../sessions/kept-events.js';
import { boundChanges } from '../../sessions/execute-result.js';

const ExecuteInput = z.object({
  code: z.string().max(1_000_000).describe('Python source to run, like a notebook cell.'),
  session_id: SessionIdArg,
  timeout: z.number().positive().max(86400).optional().describe('Wall-clock limit for this call, seconds.'),
});

const ONCE_NOTE =
  'Notebook MIME bundles. An image is {"content_index": i} when sent as image content (its place in content), ' +
  'else {"omitted_bytes": n, "file": path}: too large to send, it is whole in that workspace file. ' +
  `A value over ${BUNDLE_TEXT_CAP} bytes is cut, ending with a line that says so, and a notice names it.`;

// the session service's result, with images sent once (ONCE_NOTE) and the changed files listed within bounds
const ExecuteOutput = ExecuteResultSchema.extend({
  result: ExecuteResultSchema.shape.result.describe(ONCE_NOTE),
  displays: ExecuteResultSchema.shape.displays.describe(ONCE_NOTE),
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
  // The text block comes first, so the images start at content index 1.
  const images = bundlesForResult(r, ctx.services.config.imageInlineCap, 1);
  const { image_files: _saved, ...rest } = r;
  const notices = [...r.notices, ...images.notices];
  const structured = { ...rest, result: images.result, displays: images.displays, notices };
  const text = executeText({ ...r, result: images.result, displays: images.displays, notices });
  const result = okResult(structured, text, [...images.blocks, ...changeLinks(r.artifacts)]);
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
