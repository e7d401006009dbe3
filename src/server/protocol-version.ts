// Which MCP protocol version a request speaks, so that a result holds only what that version defines.
import type {
  JSONRPCRequest,
  ListToolsResult,
  McpServer,
  Result,
  ServerContext,
  Tool,
} from '@modelcontextprotocol/server';

/** What the spec says a server assumes when an HTTP request names no version (and 2025-03-26 clients send none). */
const HTTP_DEFAULT_VERSION = '2025-03-26';

/** Versions are dates, so they compare as strings. */
export function atLeast(version: string, since: string): boolean {
  return version >= since;
}

/** Where the version first appears: resource_link content, structuredContent and outputSchema, tool titles. */
export const SINCE_STRUCTURED = '2025-06-18';
/** Progress messages, tool annotations, audio content. */
export const SINCE_PROGRESS_MESSAGE = '2025-03-26';

/**
 * The version of this request: the one the connection negotiated (stdio, and HTTP 2026-07-28 requests), else the
 * `MCP-Protocol-Version` header of a stateless 2025-era HTTP request, else 2025-03-26, which the spec tells servers
 * to assume for an HTTP request without it.
 */
export function requestVersion(server: McpServer, ctx: ServerContext): string {
  const negotiated = server.server.getNegotiatedProtocolVersion();
  if (negotiated) return negotiated;
  const req = ctx.http?.req;
  if (req) return req.headers.get('mcp-protocol-version') ?? HTTP_DEFAULT_VERSION;
  return HTTP_DEFAULT_VERSION;
}

/** Fields of a tool in tools/list, by the version that brought them. */
const TOOL_FIELDS_SINCE: Array<[field: string, since: string]> = [
  ['annotations', '2025-03-26'],
  ['title', SINCE_STRUCTURED],
  ['outputSchema', SINCE_STRUCTURED],
  ['_meta', SINCE_STRUCTURED],
  ['icons', '2025-11-25'],
  ['execution', '2025-11-25'],
];

/** A tools/list result with only the tool fields this version defines. */
export function toolsForVersion(result: ListToolsResult, version: string): ListToolsResult {
  const drop = TOOL_FIELDS_SINCE.filter(([, since]) => !atLeast(version, since)).map(([f]) => f);
  if (drop.length === 0) return result;
  const tools = result.tools.map((tool) => {
    const copy: Record<string, unknown> = { ...tool };
    for (const f of drop) delete copy[f];
    return copy as Tool;
  });
  return { ...result, tools };
}

type StoredHandler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;

/**
 * Fits this instance's tools/list answers to each request's version: SDK 1.12 (2025-03-26) compiles every
 * outputSchema it is given, and a tool with one must then return structuredContent, which that version lacks.
 * Call after the tools are registered (the SDK installs its tools/list handler with the first one).
 */
export function fitToolListToVersion(server: McpServer): void {
  const low = server.server as unknown as { _getRequestHandler(method: string): StoredHandler | undefined };
  const list = low._getRequestHandler('tools/list');
  if (!list) return;
  server.server.setRequestHandler('tools/list', async (request, ctx) => {
    const result = (await list(request as unknown as JSONRPCRequest, ctx)) as ListToolsResult;
    return toolsForVersion(result, requestVersion(server, ctx));
  });
}
