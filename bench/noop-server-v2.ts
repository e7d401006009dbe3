// Benchmark floor: an MCP server on the same SDK (v2) with a no-op tool, and a tool that only keeps the CPU busy for a
// given time, served over stdio.
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
  server.registerTool(
    'spin',
    {
      description: 'keeps the CPU busy for ms milliseconds',
      inputSchema: z.object({ ms: z.number().max(100) }),
    },
    async ({ ms }) => {
      const t0 = performance.now();
      while (performance.now() - t0 < ms);
      return { content: [{ type: 'text', text: 'ok' }] };
    },
  );
  return server;
});
