// The limitations tool: get_sandbox_limitations answers what a session can and cannot do, from the live configuration.
import { statfs } from 'node:fs/promises';
import { z } from 'zod';
import { READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import { describeLimitations } from '../limitations.js';
import { SandboxLimitationsSchema } from '../limitations-schema.js';
import { BOX_WORKSPACE } from '../../sandbox/bwrap-argv.js';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Bytes an unprivileged writer can still use on the disk holding path, or null when it cannot be read. */
async function freeBytes(path: string): Promise<number | null> {
  try {
    const st = await statfs(path);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

export function limitsTools(): ToolDef[] {
  return [
    defineTool({
      name: 'get_sandbox_limitations',
      title: 'Sandbox limitations',
      domain: 'security',
      profile: 'full',
      description:
        'What this session can and cannot do, read from its live configuration: isolation mechanisms in force, limits and ' +
        "what enforces each, network policy with the session's allowed domains and its recent network_denied refusals " +
        '(last 50), writable and hidden paths, and the shell commands the policy refuses.',
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: SandboxLimitationsSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const owner = ctx.client.clientKey;
        const { session, env, box } = await ctx.services.sessions.environment(owner, args.session_id);
        const hostWorkspace = (await ctx.services.sessions.workspace(owner, session.session_id)).path;
        const workspace = box.mechanisms.isolation !== 'none' ? BOX_WORKSPACE : hostWorkspace;
        const out = describeLimitations({
          sessionId: session.session_id,
          workspace,
          network: ctx.services.network.describe(session.session_id, session.network),
          timeoutS: session.timeout_s,
          memoryMb: session.memory_mb,
          pids: session.pids,
          diskFreeBytes: await freeBytes(hostWorkspace),
          mechanisms: box.mechanisms,
          config: ctx.services.config,
          policy: ctx.services.shell.policyInfo(),
          python: {
            version: str(env['python_version'])?.split(' ')[0] ?? null,
            executable: str(env['python_executable']),
            venv: typeof env['venv'] === 'boolean' ? env['venv'] : null,
          },
        });
        const denials = out.network.recent_denials;
        const lastDenial = denials.at(-1);
        const text =
          `Can:\n${out.can.map((c) => `- ${c}`).join('\n')}\nCannot:\n${out.cannot.map((c) => `- ${c}`).join('\n')}\n` +
          `Network: ${out.network.description}` +
          (lastDenial
            ? `\nRecent network denials: ${denials.length}, last ${lastDenial.method} ${lastDenial.host}:${lastDenial.port}`
            : '');
        return okResult(out, text);
      },
    }),
  ];
}
