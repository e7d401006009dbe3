// Benchmark floor: an MCP server on the same SDK (v2) with one no-op tool, served over stdio.
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

serveStdio(() => {
  const server = new McpServer({ name: 'noop', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool(
    'noop',
    { description: 'does nothing', inputSchema: z.object({ x: z.string().optional() }) },
    async () => ({
      content: [{ type: 'text', text: 'ok' }],
    }),
  );
  return server;
});
