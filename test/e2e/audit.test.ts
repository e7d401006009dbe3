// End-to-end: the audit log over HTTP with two clients (two tokens): each sees only its own sessions' entries.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, CallToolResult } from '@modelcontextprotocol/client';
import { connectHttp, errorOf, startHttpProcess } from './harness.js';

describe('audit log ownership', () => {
  let proc: Awaited<ReturnType<typeof startHttpProcess>>;
  const clients: Client[] = [];
  const tokenA = 'audit-token-a-0123456789abcdef';
  const tokenB = 'audit-token-b-0123456789abcdef';

  async function connect(token: string): Promise<Client> {
    const c = await connectHttp(proc.url, token);
    clients.push(c);
    return c;
  }
  const sc = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
    ((await c.callTool({ name, arguments: args })) as CallToolResult).structuredContent as Record<
      string,
      any
    >;

  beforeAll(async () => {
    proc = await startHttpProcess({ token: `${tokenA},${tokenB}` });
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await proc?.stop();
    if (proc) rmSync(proc.dataDir, { recursive: true, force: true });
  });

  it("lists only the caller's own entries", async () => {
    const a = await connect(tokenA);
    const b = await connect(tokenB);
    const sa = (await sc(a, 'create_session')).session_id as string;
    await sc(a, 'execute', { session_id: sa, code: 'print("a")' });
    await sc(a, 'shell_execute', { session_id: sa, command: 'echo a' });
    await a.callTool({ name: 'shell_execute', arguments: { session_id: sa, command: 'sudo true' } });

    const mine = await sc(a, 'get_audit_log');
    expect(mine.entries.map((e: { kind: string }) => e.kind)).toEqual(['policy_denied', 'shell', 'execute']);
    expect(mine.entries.every((e: { session_id: string }) => e.session_id === sa)).toBe(true);

    expect((await sc(b, 'get_audit_log')).entries).toEqual([]);
    const peek = (await b.callTool({
      name: 'get_audit_log',
      arguments: { session_id: sa },
    })) as CallToolResult;
    expect(errorOf(peek).code).toBe('not_found');
  });
});
