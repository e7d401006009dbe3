// File tools: put input into a session's workspace and take results out without writing code for it.
import { z } from 'zod';
import { invalidArgument } from '../../errors.js';
import { DESTRUCTIVE, READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import { ReadResultSchema, WriteResultSchema } from '../../artifacts/result-schemas.js';
import { sessionScope } from '../services.js';
import { artifactLink } from '../artifact-links.js';
import { STDIO_MAX_MESSAGE_BYTES } from '../stdio-wire.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bytes read_file returns unless asked for more (up to 10 MiB): about 32k tokens of text. */
const READ_DEFAULT = 128 * KiB;
const ReadLength = z
  .number()
  .int()
  .positive()
  .max(10 * MiB)
  .optional();

export function fileTools(): ToolDef[] {
  return [
    defineTool({
      name: 'write_file',
      title: 'Write a file',
      domain: 'files',
      profile: 'core',
      description:
        "Write a file into the session's /workspace (path relative to it; folders are created). Give text, or base64 for " +
        `binary content. Written atomically; at most 25 MiB on both transports (a message may be ${STDIO_MAX_MESSAGE_BYTES / MiB} MiB: ` +
        'the content as base64). Paths outside the workspace are refused.',
      inputSchema: z.object({
        path: z.string().min(1).max(1024),
        text: z.string().optional(),
        base64: z.string().optional(),
        session_id: SessionIdArg,
      }),
      outputSchema: WriteResultSchema,
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
        "Read a file from the session's /workspace: text when it is UTF-8, otherwise base64, in structuredContent. " +
        `Reads length bytes (default ${READ_DEFAULT / KiB} KiB, at most 10 MiB) from offset; next_offset says where ` +
        'the rest starts (null at the end). Paths outside the workspace are refused.',
      inputSchema: z.object({
        path: z.string().min(1).max(1024),
        offset: z.number().int().min(0).optional().describe('Byte to start at (0).'),
        length: ReadLength.describe(`Bytes to read (${READ_DEFAULT}).`),
        max_bytes: ReadLength.describe('Old name of length.'),
        session_id: SessionIdArg,
      }),
      outputSchema: ReadResultSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const r = await ctx.services.artifacts.readFile(scope, args.path, {
          maxBytes: args.length ?? args.max_bytes ?? READ_DEFAULT,
          offset: args.offset ?? 0,
        });
        // The content is in structuredContent only; the text says what the result holds and how to read on.
        const end = r.offset + r.length;
        let text = `${r.path}: ${r.mime}, ${r.size} bytes; bytes ${r.offset}-${end} as ${r.encoding === 'utf8' ? 'text' : 'base64'} in structuredContent.${r.encoding === 'utf8' ? 'text' : 'base64'}`;
        text += r.next_offset === null ? ' (to the end).' : `; the rest: offset ${r.next_offset}.`;
        return okResult(r, text);
      },
    }),
  ];
}
