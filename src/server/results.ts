// Turns typed service results and errors into MCP tool results: structuredContent plus a short text, and isError
// with the error body as JSON text. The only place that shapes tool results.
import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/server';
import { toErrorBody, type ErrorBody } from '../errors.js';

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
