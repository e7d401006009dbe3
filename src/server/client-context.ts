// Who is calling and how to build an MCP server for them; shared by the transports and the tool layer. Never put transport or auth logic here.
import type { McpServer } from '@modelcontextprotocol/server';

// Who is calling: the key sessions are owned by (one per HTTP token, 'stdio' for the stdio client).
export interface ClientContext {
  clientKey: string;
  transport: 'stdio' | 'http';
}
export type ServerFactory = (client: ClientContext) => McpServer; // McpServer from @modelcontextprotocol/server
