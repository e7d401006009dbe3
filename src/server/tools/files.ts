// File tools: put input into a session's workspace and take results out without writing code for it.
import { z } from 'zod';
import { invalidArgument } from '../../errors.js';
import { DESTRUCTIVE, READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { ArtifactSchema, SessionIdArg } from '../schemas.js';
import { sessionScope } from '../services.js';
import { artifactLink } from '../artifact-links.js';

export function fileTools(): ToolDef[] {
  return [
    defineTool({
      name: 'write_file',
      title: 'Write a file',
      domain: 'files',
      profile: 'core',
      description:
        "Write a file into the session's /workspace (path relative to it; folders are created). Give text, or base64 for " +
        'binary content. Written atomically; at most 25 MiB. Paths outside the workspace are refused.',
      inputSchema: z.object({
        path: z.string().min(1).max(1024),
        text: z.string().optional(),
        base64: z.string().optional(),
        session_id: SessionIdArg,
      }),
      outputSchema: z.object({ artifact: ArtifactSchema, created: z.boolean() }),
      annotations: { ...DESTRUCTIVE, idempotentHint: true },
      handler: async (args, ctx) => {
        if ((args.text === undefined) === (args.base64 === undefined)) {
          throw invalidArgument('give exactly one of text or base64');
        }
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const content = args.text !== undefined ? { text: args.text } : { base64: args.base64 as string };
        const r = await ctx.services.artifacts.writeFile(scope, args.path, content);
        return okResult(
          r,
          `${r.created ? 'Created' : 'Replaced'} ${r.artifact.path} (${r.artifact.size} bytes).`,
          [artifactLink(r.artifact)],
        );
      },
    }),
    defineTool({
      name: 'read_file',
      title: 'Read a file',
      domain: 'files',
      profile: 'core',
      description:
        "Read a file from the session's /workspace: text when it is UTF-8, otherwise base64. Capped (default 1 MiB, " +
        'max_bytes up to 10 MiB) with a truncated flag. Paths outside the workspace are refused.',
      inputSchema: z.object({
        path: z.string().min(1).max(1024),
        max_bytes: z
          .number()
          .int()
          .positive()
          .max(10 * 1024 * 1024)
          .optional(),
        session_id: SessionIdArg,
      }),
      outputSchema: z.object({
        path: z.string(),
        uri: z.string(),
        mime: z.string(),
        category: z.string(),
        size: z.number(),
        truncated: z.boolean(),
        encoding: z.enum(['utf8', 'base64']),
        text: z.string().optional(),
        base64: z.string().optional(),
      }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const r = await ctx.services.artifacts.readFile(
          scope,
          args.path,
          args.max_bytes !== undefined ? { maxBytes: args.max_bytes } : {},
        );
        const text =
          r.encoding === 'utf8'
            ? r.text + (r.truncated ? `\n[truncated: ${r.size} bytes in all]` : '')
            : `${r.path}: ${r.mime}, ${r.size} bytes (base64 in structuredContent)`;
        return okResult(r, text);
      },
    }),
  ];
}
