// Builds the MCP server a client talks to: registers the tools of the chosen profile over the shared services.
// Only MCP wiring here; all behaviour lives in the services.
import { McpServer, type CallToolResult } from '@modelcontextprotocol/server';
import type { ClientContext, ServerFactory } from './client-context.js';
import { errorResult } from './results.js';
import type { Services } from './services.js';
import type { ToolDef, ToolProfile } from './tool-def.js';
import { toolsForProfile } from './registry.js';
import { registerResources } from './resources.js';
import { withCachedJsonSchema } from './schema-cache.js';
import { loadSnapshot } from './schema-snapshot.js';
import { registerPrompts } from './prompts.js';
import { registerDocResources } from './doc-resources.js';

export const SERVER_NAME = 'sandbox-mcp';
export const SERVER_VERSION = '0.1.0';

const INSTRUCTIONS =
  'A sandbox for running Python: each session is an isolated jail with a persistent namespace and a /workspace folder. ' +
  'Call execute with code (session_id optional: your default session is used). Errors come back with a code and a hint.';

export function createServerFactory(services: Services, profile: ToolProfile = 'full'): ServerFactory {
  const built = loadSnapshot();
  const tools = toolsForProfile(services.config, profile).map((t) => {
    const snap = built?.[t.name];
    return {
      ...t,
      inputSchema: withCachedJsonSchema(t.inputSchema, { prebuilt: { input: snap?.input } }),
      outputSchema: withCachedJsonSchema(t.outputSchema, {
        validate: services.config.checkOutput,
        prebuilt: { output: snap?.output },
      }),
    };
  });
  return (client: ClientContext) => {
    const server = new McpServer(
      { name: SERVER_NAME, version: SERVER_VERSION },
      { capabilities: { tools: {}, resources: {}, prompts: {}, logging: {} }, instructions: INSTRUCTIONS },
    );
    for (const tool of tools) registerTool(server, tool, services, client);
    registerResources(server, services, client);
    registerDocResources(server, services, { name: SERVER_NAME, version: SERVER_VERSION });
    registerPrompts(server);
    return server;
  };
}

function registerTool(server: McpServer, tool: ToolDef, services: Services, client: ClientContext): void {
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: { title: tool.title, ...tool.annotations },
    },
    async (args: unknown, ctx): Promise<CallToolResult> => {
      const token = ctx.mcpReq._meta?.progressToken;
      const progress = (value: number, total?: number, message?: string) => {
        if (token === undefined) return;
        const params: Record<string, unknown> = { progressToken: token, progress: value };
        if (total !== undefined) params['total'] = total;
        if (message !== undefined) params['message'] = message;
        ctx.mcpReq.notify({ method: 'notifications/progress', params }).catch(() => undefined);
      };
      let sent = 0;
      try {
        return await tool.handler(args as never, {
          client,
          services,
          signal: ctx.mcpReq.signal,
          progress,
          progressText: token === undefined ? undefined : (text) => progress(++sent, undefined, text),
        });
      } catch (err) {
        return errorResult(err);
      }
    },
  );
}
