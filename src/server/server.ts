// Builds the MCP server a client talks to: registers the tools of the chosen profile over the shared services.
// Only MCP wiring here; all behaviour lives in the services.
import { McpServer, type CallToolResult } from '@modelcontextprotocol/server';
import type { ClientContext, ServerFactory } from './client-context.js';
import { errorResult, projectForVersion } from './results.js';
import { CallProgress } from './call-progress.js';
import { atLeast, fitListsToVersion, requestVersion, SINCE_PROGRESS_MESSAGE } from './protocol-version.js';
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
      // No logging capability: the server's log goes to stderr (or the terminal of `serve`), and the 2026-07-28
      // protocol deprecates MCP logging; advertising it without sending messages would promise what never comes.
      { capabilities: { tools: {}, resources: {}, prompts: {} }, instructions: INSTRUCTIONS },
    );
    // One instance serves one stdio connection or one HTTP exchange, so all its requests speak one version.
    let version = '';
    projectForVersion(server, () => version);
    for (const tool of tools) registerTool(server, tool, services, client, (v) => (version = v));
    registerResources(server, services, client);
    registerDocResources(server, services, { name: SERVER_NAME, version: SERVER_VERSION });
    registerPrompts(server);
    fitListsToVersion(server);
    return server;
  };
}

function registerTool(
  server: McpServer,
  tool: ToolDef,
  services: Services,
  client: ClientContext,
  onVersion: (version: string) => void,
): void {
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
      const version = requestVersion(server, ctx);
      onVersion(version);
      const send =
        token === undefined
          ? undefined
          : (params: Record<string, unknown>) =>
              void ctx.mcpReq
                .notify({ method: 'notifications/progress', params: { progressToken: token, ...params } })
                .catch(() => undefined);
      const progress = new CallProgress(send, {
        withMessage: atLeast(version, SINCE_PROGRESS_MESSAGE),
      });
      progress.start();
      try {
        return await tool.handler(args as never, {
          client,
          services,
          signal: ctx.mcpReq.signal,
          progress: (value, total, message) => progress.step(value, total, message),
          progressText: progress.active ? (text) => progress.text(text) : undefined,
        });
      } catch (err) {
        return errorResult(err);
      } finally {
        progress.stop();
      }
    },
  );
}
