// The cache tool: clear_cache drops a session's Python caches that are safe to drop and reports what they held.
import { z } from 'zod';
import { CacheReportSchema } from '../../caches/service.js';
import { ACTS, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';

export function cacheTools(): ToolDef[] {
  return [
    defineTool({
      name: 'clear_cache',
      title: 'Clear Python caches',
      domain: 'execute',
      profile: 'full',
      description:
        "Clear the session's Python caches that are safe to clear, without restarting it or touching your variables: " +
        'import finder caches (so newly written or installed modules are found), cached source lines of library files, ' +
        "the regex cache; unless important_only, also open matplotlib figures, the last-result reference '_', " +
        '__pycache__ folders in the workspace, and a garbage collection. Reports what each held and the bytes freed.',
      inputSchema: z.object({
        important_only: z
          .boolean()
          .optional()
          .describe(
            'Only the cheap caches; the namespace and workspace files are left untouched. Default false.',
          ),
        session_id: SessionIdArg,
      }),
      outputSchema: CacheReportSchema,
      annotations: { ...ACTS, idempotentHint: true },
      handler: async (args, ctx) => {
        const r = await ctx.services.caches.clear(
          ctx.client.clientKey,
          args.session_id,
          args.important_only ?? false,
        );
        const lines = r.cleared.map((c) => `- ${c.name}: ${c.items}${c.bytes ? ` (${c.bytes} bytes)` : ''}`);
        const text = `Cleared (${r.important_only ? 'important only' : 'all'}), ${r.bytes_freed} bytes freed, ${r.duration_ms} ms:\n${lines.join('\n')}`;
        return okResult(r, text);
      },
    }),
  ];
}
