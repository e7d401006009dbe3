// The audit tool: get_audit_log lists the caller's own executes, shell commands, installs, policy and network denials.
import { z } from 'zod';
import { READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { fieldText, okResult } from '../results.js';
import { AuditEntrySchema } from '../../audit/entry-schema.js';

export function auditTools(): ToolDef[] {
  return [
    defineTool({
      name: 'get_audit_log',
      title: 'Audit log',
      domain: 'security',
      profile: 'full',
      description:
        'List what ran in your sessions, newest first: every execute, shell command, package install, policy denial and ' +
        'network denial (the host is in its detail), with ' +
        'time, kind, the sha256 of the code or command (never its text), status and duration. Only your own sessions are visible.',
      inputSchema: z.object({
        session_id: z
          .string()
          .max(200)
          .optional()
          .describe('Only this session (open or closed); omit for all of yours.'),
        limit: z.number().int().min(1).max(1000).optional().describe('Most entries returned; default 100.'),
      }),
      outputSchema: z.object({ entries: z.array(AuditEntrySchema), count: z.number() }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const owner = ctx.client.clientKey;
        const entries = ctx.services.audit.list(owner, args.session_id, args.limit ?? 100);
        // An id with no entries is either not the caller's or unknown: both answer not_found, as elsewhere.
        if (entries.length === 0 && args.session_id !== undefined)
          ctx.services.sessions.get(owner, args.session_id);
        const text = entries.length
          ? entries
              .map(
                (e) =>
                  `${e.at} ${e.session_id} ${e.kind} ${e.status}${e.duration_ms !== null ? ` ${e.duration_ms} ms` : ''} ${e.sha256.slice(0, 12)}`,
              )
              .join('\n')
          : 'No entries.';
        return okResult({ entries, count: entries.length }, fieldText(text, 'entries'));
      },
    }),
  ];
}
