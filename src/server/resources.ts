// Workspace files as MCP resources: sandbox://sessions/{session_id}/files/{path}, listable and readable by
// their owner only. Anything outside the workspace is refused by the artifacts service's path check.
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/server';
import type { ClientContext } from './client-context.js';
import { sessionScope, type Services } from './services.js';

export const FILE_URI_TEMPLATE = 'sandbox://sessions/{session_id}/files/{+path}';
const MAX_LISTED = 500;
const MAX_READ_BYTES = 10 * 1024 * 1024;

export function registerResources(server: McpServer, services: Services, client: ClientContext): void {
  server.registerResource(
    'workspace-file',
    new ResourceTemplate(FILE_URI_TEMPLATE, {
      list: async () => {
        const resources = [];
        for (const s of services.sessions.list(client.clientKey)) {
          if (resources.length >= MAX_LISTED) break; // no walk of the remaining workspaces
          const scope = await sessionScope(services, client.clientKey, s.session_id);
          const { artifacts } = await services.artifacts.list(scope);
          for (const a of artifacts) {
            if (resources.length >= MAX_LISTED) break;
            resources.push({ uri: a.uri, name: `${s.session_id}/${a.path}`, mimeType: a.mime, size: a.size });
          }
        }
        return { resources };
      },
    }),
    {
      title: 'Workspace file',
      description:
        "A file in one of your sessions' /workspace folders (text, or base64 blob for binary files).",
    },
    async (uri, variables) => {
      const sessionId = String(variables['session_id'] ?? '');
      const raw = variables['path'];
      const path = decodeURIComponent(Array.isArray(raw) ? raw.join('/') : String(raw ?? ''));
      const scope = await sessionScope(services, client.clientKey, sessionId);
      const r = await services.artifacts.readFile(scope, path, { maxBytes: MAX_READ_BYTES });
      const contents =
        r.encoding === 'utf8'
          ? [{ uri: uri.href, mimeType: r.mime, text: r.text }]
          : [{ uri: uri.href, mimeType: r.mime, blob: r.base64 }];
      return { contents };
    },
  );
}
