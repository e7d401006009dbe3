// Environment tools: get_execution_info (python, sys.path, venv, limits, isolation, usage of a session).
import { z } from 'zod';
import { READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import { IsolationSchema } from '../../sessions/execute-result-schema.js';
import { SessionInfoSchema } from '../../sessions/result-schemas.js';
import { memoryEnforcedBy, pidsEnforcedBy } from '../../sandbox/limit-stand-ins.js';

export function infoTools(): ToolDef[] {
  return [
    defineTool({
      name: 'get_execution_info',
      title: 'Execution environment',
      domain: 'execute',
      profile: 'core',
      description:
        "Describe a session's environment: Python executable and version, sys.path, virtualenv, workspace, " +
        'limits in force (timeout, memory, processes, file size, open files), the isolation mechanisms that enforce them, ' +
        'and current resource usage. Use it before installing packages or when an import fails.',
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: z.object({
        session: SessionInfoSchema,
        python: z.record(z.string(), z.unknown()),
        limits: z.object({
          timeout_s: z.number(),
          memory_mb: z.number(),
          pids: z.number(),
          file_size_mb: z.number(),
          open_files: z.number(),
          output_cap_bytes: z.number(),
        }),
        isolation: z.object({
          mechanism: IsolationSchema,
          memory_limit: z.string(),
          pids_limit: z.string(),
          seccomp: z.boolean(),
          network: z.string(),
        }),
        usage: z.object({
          memory_bytes: z.number().nullable(),
          memory_peak_bytes: z.number().nullable(),
          pids: z.number().nullable(),
          oom_kills: z.number(),
        }),
      }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const cfg = ctx.services.config;
        const { session, env, box } = await ctx.services.sessions.environment(
          ctx.client.clientKey,
          args.session_id,
        );
        const m = box.mechanisms;
        const out = {
          session,
          python: env,
          limits: {
            timeout_s: session.timeout_s,
            memory_mb: session.memory_mb,
            pids: session.pids,
            file_size_mb: cfg.fileSizeMb,
            open_files: cfg.openFiles,
            output_cap_bytes: cfg.outputCap,
          },
          isolation: {
            mechanism: m.isolation,
            memory_limit: memoryEnforcedBy(m.memory),
            pids_limit: pidsEnforcedBy(m.pids),
            seccomp: m.seccomp,
            network: ctx.services.network.describe(session.session_id, session.network).summary,
          },
          usage: box.usage(),
        };
        const text = `Python ${String(env['python_version'] ?? '?')} at ${String(env['python_executable'] ?? '?')}; isolation ${m.isolation}; memory ${session.memory_mb} MiB (${out.isolation.memory_limit}); processes ${session.pids} (${out.isolation.pids_limit}); timeout ${session.timeout_s} s.`;
        return okResult(out, text);
      },
    }),
  ];
}
