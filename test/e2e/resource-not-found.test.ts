// resources/read of what does not exist (an unknown URI, a file of an unknown session, a missing file) answers the
// MCP "resource not found" error: -32002 with the URI in data for 2025 clients (spec 2025-06-18 and 2025-11-25), the
// -32602 that replaced it for 2026-07-28 clients; a path that leaves the workspace is invalid params. Never -32603.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as V1Http } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceNotFoundError } from '@modelcontextprotocol/client';
import { connectHttp, startHttpProcess } from './harness.js';
import { stdioServer, type StdioServer } from './stdio-server.js';

const UNKNOWN_SESSION = 's_doesnotexist0000000000';

describe('resources/read of what does not exist', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let stdio: StdioServer;
  const clients: Array<{ label: string; client: V1Client; sid: string }> = [];

  beforeAll(async () => {
    http = await startHttpProcess();
    stdio = stdioServer();
    const overStdio = new V1Client({ name: 'sdk-1.x', version: '1.0.0' });
    await overStdio.connect(new V1Stdio(stdio.params));
    const overHttp = new V1Client({ name: 'sdk-1.x', version: '1.0.0' });
    await overHttp.connect(
      new V1Http(new URL(http.url), { requestInit: { headers: { Authorization: `Bearer ${http.token}` } } }),
    );
    for (const [label, client] of [
      ['stdio', overStdio],
      ['HTTP', overHttp],
    ] as const) {
      const created = await client.callTool({ name: 'create_session', arguments: {} });
      const sid = (created.structuredContent as { session_id: string }).session_id;
      clients.push({ label, client, sid });
    }
  }, 60_000);
  afterAll(async () => {
    for (const { client } of clients) await client.close().catch(() => undefined);
    await http?.stop();
    stdio?.remove();
    if (http) rmSync(http.dataDir, { recursive: true, force: true });
  });

  const reading = (label: string, uri: (sid: string) => string) => {
    const { client, sid } = clients.find((c) => c.label === label)!;
    const u = uri(sid);
    return { uri: u, read: client.readResource({ uri: u }) };
  };

  it.each(['stdio', 'HTTP'])(
    'SDK 1.x over %s: an unknown URI is -32002 with the URI in data',
    async (label) => {
      const { uri, read } = reading(label, () => 'sandbox://nowhere/at/all');
      await expect(read).rejects.toMatchObject({ code: -32002, data: { uri } });
    },
  );

  it.each(['stdio', 'HTTP'])('SDK 1.x over %s: a file of an unknown session is -32002', async (label) => {
    const { uri, read } = reading(label, () => `sandbox://sessions/${UNKNOWN_SESSION}/files/a.txt`);
    await expect(read).rejects.toMatchObject({ code: -32002, data: { uri } });
    await expect(read).rejects.toThrow(/session 's_doesnotexist0000000000' does not exist/);
  });

  it.each(['stdio', 'HTTP'])('SDK 1.x over %s: a missing file of a real session is -32002', async (label) => {
    const { uri, read } = reading(label, (sid) => `sandbox://sessions/${sid}/files/no/such.txt`);
    await expect(read).rejects.toMatchObject({ code: -32002, data: { uri } });
  });

  it.each(['stdio', 'HTTP'])(
    'SDK 1.x over %s: a path out of the workspace is invalid params, not an internal error',
    async (label) => {
      const { uri, read } = reading(label, (sid) => `sandbox://sessions/${sid}/files/..%2F..%2Fetc%2Fpasswd`);
      await expect(read).rejects.toMatchObject({
        code: -32602,
        data: { uri, error: { code: 'invalid_argument' } },
      });
    },
  );

  it('a 2026-07-28 client gets -32602 with the URI, which its SDK reads as ResourceNotFoundError', async () => {
    const client = await connectHttp(http.url, http.token, '2026');
    try {
      const uri = `sandbox://sessions/${UNKNOWN_SESSION}/files/a.txt`;
      const read = client.readResource({ uri });
      await expect(read).rejects.toBeInstanceOf(ResourceNotFoundError);
      await expect(read).rejects.toMatchObject({ code: -32602, data: { uri } });
    } finally {
      await client.close();
    }
  });
});
