// Which MCP protocol version a request speaks, so that a result holds only what that version defines.
import type { JSONRPCRequest, McpServer, Result, ServerContext } from '@modelcontextprotocol/server';

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

/** Where `icons` (on tools, resources, templates and prompts) and a tool's `execution` first appear. */
const SINCE_ICONS = '2025-11-25';

type FieldsSince = Array<[field: string, since: string]>;

/** Fields of a tool in tools/list, by the version that brought them. */
const TOOL_FIELDS_SINCE: FieldsSince = [
  ['annotations', '2025-03-26'],
  ['title', SINCE_STRUCTURED],
  ['outputSchema', SINCE_STRUCTURED],
  ['_meta', SINCE_STRUCTURED],
  ['icons', SINCE_ICONS],
  ['execution', SINCE_ICONS],
];

/** Fields of a resource, a resource template and a prompt (and of a prompt's argument), by the version that brought them. */
const ITEM_FIELDS_SINCE: FieldsSince = [
  ['title', SINCE_STRUCTURED],
  ['_meta', SINCE_STRUCTURED],
  ['icons', SINCE_ICONS],
];

/** The lists whose items are fitted, and the key that holds the items. */
const LIST_KEYS = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
} as const;
type ListMethod = keyof typeof LIST_KEYS;

type Item = Record<string, unknown>;

/** The items of one list with only the fields this version defines (the same array when none goes). */
function itemsForVersion(
  items: Item[],
  fields: FieldsSince,
  version: string,
  nested?: (item: Item) => Item,
): Item[] {
  const drop = fields.filter(([, since]) => !atLeast(version, since)).map(([f]) => f);
  if (drop.length === 0) return items;
  return items.map((item) => {
    const copy: Item = { ...item };
    for (const f of drop) delete copy[f];
    return nested ? nested(copy) : copy;
  });
}

/** A prompt's arguments have fields by version too (`title`). */
function promptArguments(version: string) {
  return (prompt: Item): Item =>
    Array.isArray(prompt['arguments'])
      ? { ...prompt, arguments: itemsForVersion(prompt['arguments'] as Item[], ITEM_FIELDS_SINCE, version) }
      : prompt;
}

/** A list result (tools, prompts, resources, resource templates) with only the item fields this version defines. */
export function listForVersion<R extends Result>(method: ListMethod, result: R, version: string): R {
  const key = LIST_KEYS[method];
  const items = (result as Item)[key];
  if (!Array.isArray(items)) return result;
  const fitted =
    method === 'tools/list'
      ? itemsForVersion(items as Item[], TOOL_FIELDS_SINCE, version)
      : itemsForVersion(
          items as Item[],
          ITEM_FIELDS_SINCE,
          version,
          method === 'prompts/list' ? promptArguments(version) : undefined,
        );
  return fitted === items ? result : { ...result, [key]: fitted };
}

type StoredHandler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;

/**
 * Fits this instance's list answers (tools, prompts, resources, resource templates) to each request's version: SDK
 * 1.12 (2025-03-26) compiles every outputSchema it is given, and a tool with one must then return structuredContent,
 * which that version lacks; and no item holds a field its version does not define (`title`, `_meta`, `icons`). Call
 * after everything is registered (the SDK installs each list handler with the first item of its kind) and after
 * resources-list.ts has put its paged resources/list in place.
 */
export function fitListsToVersion(server: McpServer): void {
  const low = server.server as unknown as { _getRequestHandler(method: string): StoredHandler | undefined };
  for (const method of Object.keys(LIST_KEYS) as ListMethod[]) {
    const list = low._getRequestHandler(method);
    if (!list) continue;
    server.server.setRequestHandler(method, async (request, ctx) => {
      const result = await list(request as unknown as JSONRPCRequest, ctx);
      return listForVersion(method, result, requestVersion(server, ctx)) as never;
    });
  }
}
