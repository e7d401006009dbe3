// Turns typed service results and errors into MCP tool results: structuredContent plus a short text (a large field
// goes out once), and isError with the error body as JSON text, each fitted to the protocol version of the request.
// The only place that shapes tool results.
import type { CallToolResult, ContentBlock, McpServer } from '@modelcontextprotocol/server';
import { toErrorBody, type ErrorBody } from '../errors.js';
import { atLeast, SINCE_PROGRESS_MESSAGE, SINCE_STRUCTURED } from './protocol-version.js';
import type { ToolResult } from './tool-def.js';

/** A successful result; its structuredContent keeps its type, so a tool's handler is checked against its output schema. */
export function okResult<S extends object>(
  structured: S,
  text: string,
  extra: ContentBlock[] = [],
): OkResult<S> {
  return {
    content: [{ type: 'text', text }, ...extra],
    structuredContent: structured,
  };
}

/** A tool result whose structuredContent has the handler's own type (a CallToolResult to the SDK). */
export type OkResult<S> = ToolResult<S> & { structuredContent: S };

/** A field up to this many characters may also be whole in the text; a longer one is there only as its two ends. */
export const TEXT_WHOLE_MAX = 2048;
const PREVIEW_HEAD = 512;
const PREVIEW_TAIL = 1024;

/**
 * A structured field as the text shows it, so that a large one goes out once (in structuredContent, which a program
 * reads and which some clients hand their model instead of the text): whole when short, without its last newline;
 * else its first and last characters around a line that gives its length and names the field that holds it all.
 */
export function fieldText(value: string, field: string): string {
  if (value.length <= TEXT_WHOLE_MAX) return value.replace(/\n$/, '');
  const head = value.slice(0, whole(value, PREVIEW_HEAD));
  const tail = value.slice(whole(value, value.length - PREVIEW_TAIL));
  const { chars, lines } = measure(value);
  return (
    `${head}\n[… ${chars} characters, ${lines} line(s): the ends are shown here, the whole is in ` +
    `structuredContent.${field}]\n${tail.replace(/\n$/, '')}`
  );
}

/** A text's characters (code points, as Python's len() counts them, not UTF-16 units) and lines, in one pass. */
function measure(s: string): { chars: number; lines: number } {
  let pairs = 0;
  let newlines = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) newlines++;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return { chars: s.length - pairs, lines: newlines + (s.endsWith('\n') ? 0 : 1) };
}

/** An index that does not fall between the two halves of a surrogate pair. */
function whole(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff ? i + 1 : i;
}

export function errorText(body: ErrorBody): string {
  let text = `${body.code}: ${body.message}`;
  if (body.hint) text += `\nhint: ${body.hint}`;
  return text;
}

/**
 * A failed call: isError, and one text block that is the JSON `{"error": {code, message, details, hint}}`. No
 * structuredContent: it would not match the tool's output schema, and SDK 1.x clients and the Inspector CLI
 * refuse such a result whole, error included (docs/ARCHITECTURE.md, Results).
 */
export function errorResult(err: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: toErrorBody(err) }) }] };
}

/**
 * A result as the request's protocol version defines it. Before 2025-06-18 there is no structuredContent and no
 * resource_link (SDK 1.12 clients refuse a whole result holding one): the links become one text block naming each
 * file's resource URI, which resources/read serves in every version.
 */
export function forVersion(result: CallToolResult, version: string): CallToolResult {
  if (atLeast(version, SINCE_STRUCTURED)) return result;
  const { structuredContent: _dropped, ...rest } = result;
  const links: string[] = [];
  const content: ContentBlock[] = [];
  for (const block of result.content) {
    if (block.type === 'resource_link') {
      links.push(
        `${block.uri} (${block.mimeType ?? 'file'}${block.description ? `, ${block.description}` : ''})`,
      );
    } else if (block.type === 'audio' && !atLeast(version, SINCE_PROGRESS_MESSAGE)) {
      content.push({
        type: 'text',
        text: `[audio ${block.mimeType} left out: protocol ${version} has no audio]`,
      });
    } else content.push(block);
  }
  if (links.length)
    content.push({ type: 'text', text: `[resources] read with resources/read:\n${links.join('\n')}` });
  // the text of a structured result is a summary (read_file's content, for one, is only in the data): a client that
  // cannot see structuredContent gets it as JSON text instead, so it loses nothing
  if (_dropped !== undefined && !result.isError)
    content.push({ type: 'text', text: JSON.stringify(_dropped) });
  return { ...rest, content };
}

/** Makes every tools/call result of this server instance fit the protocol version its requests speak. */
export function projectForVersion(server: McpServer, versionOf: () => string): void {
  const inner = server.server.projectCallToolResult.bind(server.server);
  server.server.projectCallToolResult = (result, schema) => forVersion(inner(result, schema), versionOf());
}
