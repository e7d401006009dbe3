// The shell tool: shell_execute runs a /bin/sh command line in the session's box after the policy has checked it.
import { z } from 'zod';
import { DESTRUCTIVE, defineTool, type ToolDef } from '../tool-def.js';
import { okResult, errorText } from '../results.js';
import { ArtifactChangesSchema, SessionIdArg } from '../schemas.js';
import { changeLinks, changesText } from '../artifact-links.js';
import type { ShellResult } from '../../shell/service.js';
import { ShellResultSchema } from '../../shell/result-schema.js';
import { boundChanges, type BoundedChanges } from '../../sessions/execute-result.js';
import { streamsText } from '../execute-format.js';

const ShellInput = z.object({
  command: z
    .string()
    .min(1)
    .max(100_000)
    .describe('A /bin/sh command line: pipes, &&, ;, $(...), redirections all work.'),
  working_directory: z
    .string()
    .max(4096)
    .optional()
    .describe(
      "Folder to run in, relative to /workspace (or absolute under /workspace); default /workspace. '..' is refused.",
    ),
  timeout: z
    .number()
    .positive()
    .max(86400)
    .optional()
    .describe("Wall-clock limit, seconds; default: the session's timeout."),
  session_id: SessionIdArg,
});

// the service's result, with the changed files listed within bounds (the artifacts field keeps its place)
const ShellOutput = ShellResultSchema.extend({ artifacts: ArtifactChangesSchema.nullable() });

function shellText(r: ShellResult & { artifacts: BoundedChanges | null }): string {
  const parts = streamsText(r);
  if (r.error) parts.push(errorText(r.error));
  const files = changesText(r.artifacts);
  if (files) parts.push(files);
  const end =
    r.exit_code !== null ? `exit ${r.exit_code}` : r.signal !== null ? `signal ${r.signal}` : r.status;
  parts.push(
    `(${r.status === 'ok' ? end : `${r.status}, ${end}`}, ${r.duration_ms} ms, in ${r.working_directory})`,
  );
  return parts.join('\n');
}

export function shellTools(): ToolDef[] {
  return [
    defineTool({
      name: 'shell_execute',
      title: 'Run a shell command',
      domain: 'shell',
      profile: 'full',
      description:
        "Run a shell command with /bin/sh in the session's sandbox: same files (/workspace), network and limits as its Python. " +
        'Returns stdout, stderr (long output capped, head and tail kept), exit code, duration and the files it created or changed. ' +
        'A non-zero exit code is a normal result. On timeout the command and everything it started are killed; the Python ' +
        'session is untouched. Commands are checked by a policy first (no mount, sudo, raw disk writes, kernel modules, ' +
        'reboot, signalling processes outside the command…): a refusal is policy_denied naming the rule.',
      inputSchema: ShellInput,
      outputSchema: ShellOutput,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const since = new Date().toISOString();
        const run = await ctx.services.shell.run(ctx.client.clientKey, args.session_id, args.command, {
          working_directory: args.working_directory,
          timeout_s: args.timeout,
          signal: ctx.signal,
          onProgress: ctx.progressText,
        });
        const r = { ...run, artifacts: boundChanges(run.artifacts, since) };
        const result = okResult(r, shellText(r), changeLinks(r.artifacts));
        if (r.error) result.isError = true;
        return result;
      },
    }),
  ];
}
