// Workspace files as MCP resources: sandbox://sessions/{session_id}/files/{path}, listable and readable by
// their owner only. Anything outside the workspace is refused by the artifacts service's path check.
import { McpServer, ResourceNotFoundError, ResourceTemplate } from '@modelcontextprotocol/server';
import { SandboxError } from '../errors.js';
import type { ClientContext } from './client-context.js';
import { sessionScope, type Services } from './services.js';
import { pageResourceList } from './resources-list.js';

export const FILE_URI_TEMPLATE = 'sandbox://sessions/{session_id}/files/{+path}';
const MAX_READ_BYTES = 10 * 1024 * 1024;

export function registerResources(server: McpServer, services: Services, client: ClientContext): void {
  server.registerResource(
    'workspace-file',
    // Listed in pages by resources-list.ts, not all at once through the template.
    new ResourceTemplate(FILE_URI_TEMPLATE, { list: undefined }),
    {
      title: 'Workspace file',
      description:
        "A file in one of your sessions' /workspace folders (text, or base64 blob for binary files).",
    },
    async (uri, variables) => {
      const sessionId = String(variables['session_id'] ?? '');
      const raw = variables['path'];
      const path = decodeURIComponent(Array.isArray(raw) ? raw.join('/') : String(raw ?? ''));
      const r = await notFoundAsResourceError(uri, async () => {
        const scope = await sessionScope(services, client.clientKey, sessionId);
        return await services.artifacts.readFile(scope, path, { maxBytes: MAX_READ_BYTES });
      });
      const contents =
        r.encoding === 'utf8'
          ? [{ uri: uri.href, mimeType: r.mime, text: r.text }]
          : [{ uri: uri.href, mimeType: r.mime, blob: r.base64 }];
      return { contents };
    },
  );
  pageResourceList(server, services, client);
}

/**
 * An unknown session or a missing file is "resource not found", never an internal error. The SDK sends it as
 * -32602 with `data.uri` (the 2026-07-28 code, which it uses for every version instead of 2025's -32002), and its
 * clients read that as ResourceNotFoundError only when `data` holds nothing else, so the hint goes in the message.
 */
async function notFoundAsResourceError<T>(uri: URL, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof SandboxError && err.code === 'not_found') {
      const hint = err.hint ? ` (${err.hint})` : '';
      throw new ResourceNotFoundError(uri.href, `Resource not found: ${err.message}${hint}`);
    }
    throw err;
  }
}
