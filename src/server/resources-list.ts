// resources/list in pages (MCP pagination): the server's own resources, then every workspace file of the caller's
// sessions in (session, path) order, RESOURCES_PAGE at a time, with nextCursor while more follow.
import { ProtocolError, ProtocolErrorCode, type McpServer } from '@modelcontextprotocol/server';
import type {
  JSONRPCRequest,
  ListResourcesResult,
  Resource,
  ServerContext,
} from '@modelcontextprotocol/server';
import type { ClientContext } from './client-context.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';
import { sessionScope, type Services } from './services.js';

export const RESOURCES_PAGE = 100;

type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<ListResourcesResult>;

/** Where a page stopped: the session and the last path listed in it. */
function position(cursor: string | undefined): { s: string; a: string } | null {
  if (cursor === undefined) return null;
  try {
    return decodeCursor(cursor, ['s', 'a']);
  } catch (err) {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, (err as Error).message, { cursor });
  }
}

async function workspaceFiles(
  services: Services,
  client: ClientContext,
  from: { s: string; a: string } | null,
  room: number,
): Promise<{ resources: Resource[]; nextCursor?: string }> {
  const resources: Resource[] = [];
  const ids = services.sessions
    .list(client.clientKey)
    .map((s) => s.session_id)
    .sort();
  for (const id of ids) {
    if (from && id < from.s) continue;
    if (resources.length >= room) {
      // Full, and this session may hold more: the next page starts at its beginning.
      return { resources, nextCursor: encodeCursor({ s: id, a: '' }) };
    }
    const after = from && id === from.s ? from.a : undefined;
    let page;
    try {
      const scope = await sessionScope(services, client.clientKey, id);
      page = await services.artifacts.list(scope, {}, { limit: room - resources.length, after });
    } catch {
      continue; // closed while listing
    }
    for (const a of page.artifacts) {
      resources.push({ uri: a.uri, name: `${id}/${a.path}`, mimeType: a.mime, size: a.size });
    }
    if (page.next_after !== null)
      return { resources, nextCursor: encodeCursor({ s: id, a: page.next_after }) };
  }
  return { resources };
}

/** Replaces the SDK's resources/list (which lists everything at once). Call after the resources are registered. */
export function pageResourceList(server: McpServer, services: Services, client: ClientContext): void {
  const low = server.server as unknown as { _getRequestHandler(method: string): Handler | undefined };
  const own = low._getRequestHandler('resources/list');
  if (!own) return;
  server.server.setRequestHandler('resources/list', async (request, ctx) => {
    const from = position(request.params?.cursor);
    // The server's own resources (a few) lead the first page.
    const fixed = from ? [] : (await own(request as unknown as JSONRPCRequest, ctx)).resources;
    const files = await workspaceFiles(services, client, from, RESOURCES_PAGE - fixed.length);
    return {
      resources: [...fixed, ...files.resources],
      ...(files.nextCursor ? { nextCursor: files.nextCursor } : {}),
    };
  });
}
