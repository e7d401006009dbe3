// Turns typed service results and errors into MCP tool results: structuredContent plus a short text,
// and isError with the structured error body. The only place that shapes tool results.
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

/** A failed call: isError with `{ error: { code, message, details, hint } }` as structuredContent. */
export function errorResult(err: unknown): CallToolResult {
  const body = toErrorBody(err);
  return {
    isError: true,
    content: [{ type: 'text', text: errorText(body) }],
    structuredContent: { error: body },
  };
}
