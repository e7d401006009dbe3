// Content for the protocol a client negotiated: SDK 1.12 speaks 2025-03-26, which has no resource_link, no
// structuredContent and no outputSchema; its results and tools/list must hold only what that version defines,
// while a 2025-11-25 client still gets all of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as Client112 } from 'sdk-1-12/client/index.js';
import { StdioClientTransport as Stdio112 } from 'sdk-1-12/client/stdio.js';
import { StreamableHTTPClientTransport as Http112 } from 'sdk-1-12/client/streamableHttp.js';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Http } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CLI, baseEnv, startHttpProcess } from './harness.js';

type Content = Array<{ type: string; text?: string; uri?: string }>;
interface Result {
  content: Content;
  structuredContent?: unknown;
  isError?: boolean;
}

const MAKES_A_FILE = "open('made.csv', 'w').write('a,b\\n1,2\\n')\n'done'";

describe('content for the negotiated protocol version', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let stdioData: string;
  const clients: Array<{ label: string; client: Client112 }> = [];

  beforeAll(async () => {
    http = await startHttpProcess();
    stdioData = mkdtempSync(join(tmpdir(), 'sandbox-mcp-proto-'));
    const overStdio = new Client112({ name: 'sdk-1.12', version: '1.0.0' });
    await overStdio.connect(
      new Stdio112({
        command: process.execPath,
        args: [CLI, '--data-dir', stdioData, '--pool-size', '1'],
        env: baseEnv(),
        stderr: 'pipe',
      }),
    );
    const overHttp = new Client112({ name: 'sdk-1.12', version: '1.0.0' });
    await overHttp.connect(
      new Http112(new URL(http.url), {
        requestInit: { headers: { Authorization: `Bearer ${http.token}` } },
      }),
    );
    clients.push({ label: 'stdio', client: overStdio }, { label: 'HTTP', client: overHttp });
  });
  afterAll(async () => {
    for (const { client } of clients) await client.close().catch(() => undefined);
    await http?.stop();
    for (const d of [stdioData, http?.dataDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const call = async (client: Client112, name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as unknown as Result;

  /** Nothing 2025-03-26 lacks, and every file the call made named by a URI that resources/read serves. */
  async function expectFor20250326(client: Client112, r: Result, file: string): Promise<void> {
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toBeUndefined();
    expect(r.content.map((c) => c.type).every((t) => t === 'text' || t === 'image')).toBe(true);
    const text = r.content.map((c) => c.text ?? '').join('\n');
    const uri = new RegExp(`sandbox://sessions/[^\\s]+/files/${file}`).exec(text)?.[0];
    expect(uri, text).toBeDefined();
    const read = await client.readResource({ uri: uri! });
    expect(read.contents[0]!.uri).toBe(uri);
  }

  it.each(['stdio', 'HTTP'])(
    'SDK 1.12 over %s accepts write_file, list_artifacts and an execute that makes a file',
    async (label) => {
      const { client } = clients.find((c) => c.label === label)!;
      const created = await call(client, 'create_session', {});
      const sid = /s_[A-Za-z0-9_-]+/.exec(created.content[0]!.text!)![0];

      await expectFor20250326(
        client,
        await call(client, 'write_file', { session_id: sid, path: 'notes.txt', text: 'hi' }),
        'notes.txt',
      );
      await expectFor20250326(
        client,
        await call(client, 'execute', { session_id: sid, code: MAKES_A_FILE }),
        'made.csv',
      );
      await expectFor20250326(client, await call(client, 'list_artifacts', { session_id: sid }), 'made.csv');
      // read_file's content lives in the structured data: without it, the client still gets it as text
      const read = await call(client, 'read_file', { session_id: sid, path: 'notes.txt' });
      expect(read.structuredContent).toBeUndefined();
      expect(read.content.map((c) => c.text ?? '').join('\n')).toContain('"hi"');
    },
    60_000,
  );

  it('lists tools for 2025-03-26 without outputSchema or title, so SDK 1.12 demands no structured content', async () => {
    const { client } = clients[0]!;
    const { tools } = await client.listTools();
    const execute = tools.find((t) => t.name === 'execute') as Record<string, unknown>;
    expect(execute['outputSchema']).toBeUndefined();
    expect(execute['title']).toBeUndefined();
    expect(execute['annotations']).toBeDefined(); // annotations came with 2025-03-26
  });

  it('still gives a 2025-11-25 client resource links, structuredContent and output schemas', async () => {
    const v1 = new V1Client({ name: 'sdk-1.x', version: '1.0.0' });
    await v1.connect(
      new V1Http(new URL(http.url), { requestInit: { headers: { Authorization: `Bearer ${http.token}` } } }),
    );
    try {
      const { tools } = await v1.listTools();
      expect(tools.find((t) => t.name === 'execute')!.outputSchema).toBeDefined();
      const r = (await v1.callTool({
        name: 'write_file',
        arguments: { path: 'x.txt', text: 'x' },
      })) as Result;
      expect(r.structuredContent).toBeDefined();
      expect(r.content.some((c) => c.type === 'resource_link')).toBe(true);
    } finally {
      await v1.close();
    }
  });
});
