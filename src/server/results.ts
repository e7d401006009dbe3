// Turns typed service results and errors into MCP tool results: structuredContent plus a short text, and isError
// with the error body as JSON text, each fitted to the protocol version of the request. The only place that shapes
// tool results.
import type { CallToolResult, ContentBlock, McpServer } from '@modelcontextprotocol/server';
import { toErrorBody, type ErrorBody } from '../errors.js';
import { atLeast, SINCE_PROGRESS_MESSAGE, SINCE_STRUCTURED } from './protocol-version.js';

export function okResult(structured: object, text: string, extra: ContentBlock[] = []): CallToolResult {
  return {
    content: [{ type: 'text', text }, ...extra],
    structuredContent: structured as Record<string, unknown>,
  };
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
