// Session lifecycle tools: create_session, list_sessions, close_session.
import { z } from 'zod';
import { DESTRUCTIVE, ACTS, READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionClosedSchema, SessionInfoSchema } from '../../sessions/result-schemas.js';
import type { NetworkMode } from './execute.js';

export function sessionTools(idleTtlS: number, networkDefault: NetworkMode = 'none'): ToolDef[] {
  const ttl =
    `Sessions idle for ${idleTtlS} s have their processes stopped (Python state, web apps); ` +
    'files, backups and history are kept and the next call restarts them.';
  return [
    defineTool({
      name: 'create_session',
      title: 'Create session',
      domain: 'sessions',
      profile: 'core',
      description:
        'Start a new isolated Python session: its own jail, persistent namespace and /workspace folder. ' +
        'Use it to keep separate work apart; calls without session_id use your default session instead. ' +
        'Options: timeout_s per call (default server-wide), memory_mb, network: ' +
        '\'none\' (no network), \'allowlist\' (only allowed_domains, e.g. ["pypi.org", "*.example.com"], ' +
        "through the sandbox's proxy; other hosts fail as network_denied) or 'full' (only if the server allows it); " +
        `default on this server: '${networkDefault}'. ` +
        ttl,
      inputSchema: z.object({
        name: z.string().max(100).optional().describe('A label for your own use.'),
        timeout_s: z
          .number()
          .positive()
          .max(86400)
          .optional()
          .describe('Wall-clock limit per call, seconds.'),
        memory_mb: z
          .number()
          .int()
          .min(64)
          .max(1048576)
          .optional()
          .describe('Memory limit of the session, MiB.'),
        network: z
          .enum(['none', 'allowlist', 'full'])
          .optional()
          .describe("Network policy; default the server's (normally 'none')."),
        allowed_domains: z
          .array(z.string().max(260))
          .max(100)
          .optional()
          .describe("For 'allowlist': hosts (pypi.org) and *.domains (*.example.com) the session may reach."),
        preload: z
          .boolean()
          .optional()
          .describe(
            'false: a bare Python. By default numpy, pandas and matplotlib may be imported ahead (in sys.modules, not in your namespace).',
          ),
      }),
      outputSchema: SessionInfoSchema.extend({
        allowed_domains: z.array(z.string()),
        network_summary: z.string(),
        /** Each limit no cgroup enforces on this machine, and what stands in for it. */
        notices: z.array(z.string()),
      }),
      annotations: ACTS,
      handler: async (args, ctx) => {
        const info = await ctx.services.sessions.create(ctx.client.clientKey, args);
        const net = ctx.services.network.describe(info.session_id, info.network);
        return okResult(
          { ...info, allowed_domains: net.allowed_domains, network_summary: net.summary },
          `Created session ${info.session_id} (timeout ${info.timeout_s} s, memory ${info.memory_mb} MiB, network: ${net.summary}).` +
            info.notices.map((n) => `\nNotice: ${n}`).join(''),
        );
      },
    }),
    defineTool({
      name: 'list_sessions',
      title: 'List sessions',
      domain: 'sessions',
      profile: 'core',
      description: `List your open sessions with their limits, last use and whether their Python process is running. ${ttl}`,
      inputSchema: z.object({}),
      outputSchema: z.object({ sessions: z.array(SessionInfoSchema), idle_ttl_s: z.number() }),
      annotations: READ_ONLY,
      handler: async (_args, ctx) => {
        const sessions = ctx.services.sessions.list(ctx.client.clientKey);
        const lines = sessions.map(
          (s) =>
            `${s.session_id}${s.is_default ? ' (default)' : ''}${s.name ? ` ${s.name}` : ''}: ${s.execution_count} calls, last used ${s.last_used_at}`,
        );
        return okResult(
          { sessions, idle_ttl_s: ctx.services.sessions.idleTtlS },
          sessions.length ? lines.join('\n') : 'No open sessions.',
        );
      },
    }),
    defineTool({
      name: 'close_session',
      title: 'Close session',
      domain: 'sessions',
      profile: 'core',
      description:
        'Stop a session: its Python process ends and its workspace files are deleted. Cannot be undone.',
      inputSchema: z.object({ session_id: z.string().max(200).describe('The session to close.') }),
      outputSchema: SessionClosedSchema,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const res = await ctx.services.sessions.close(ctx.client.clientKey, args.session_id);
        return okResult(res, `Closed session ${res.session_id}.`);
      },
    }),
  ];
}
