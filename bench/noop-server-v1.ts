// Benchmark comparison: the same no-op tool on the v1 SDK (@modelcontextprotocol/sdk), 2025 protocol only.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'noop-v1', version: '1.0.0' });
server.registerTool(
  'noop',
  { description: 'does nothing', inputSchema: { x: z.string().optional() } },
  async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }),
);
await server.connect(new StdioServerTransport());
