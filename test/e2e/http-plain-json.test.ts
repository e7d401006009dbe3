// Over Streamable HTTP a call that cannot stream is answered with one application/json body, in both protocol eras
// and for SDK 1.x and v2 clients, while a call with a progressToken still streams its progress; calls served on
// reused server instances keep their own protocol version.
import { describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { httpServerFixture } from './http-server-fixture.js';
import { rawRequest } from './raw-http.js';

/** Prints lines for 2 s: with a progressToken, output after the first second goes out as progress notifications. */
const LINES = 'import time\nfor i in range(8):\n    print(i, flush=True)\n    time.sleep(0.25)';

interface Seen {
  method: string;
  contentType: string;
}

/** A fetch that records the content type answered to each tools/call it sends. */
function recordingFetch(seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : {};
    if (body.method === 'tools/call') {
      seen.push({ method: body.method, contentType: res.headers.get('content-type') ?? '' });
    }
    return res;
  };
}

describe('plain JSON answers over HTTP', () => {
  const server = httpServerFixture();
  const auth = server.auth;

  it.each([
    ['SDK v2, protocol era 2025', 'legacy'],
    ['SDK v2, protocol era 2026', 'auto'],
  ] as const)(
    '%s: a plain call gets application/json, a call with a progressToken streams its progress',
    async (_, mode) => {
      const seen: Seen[] = [];
      const client = new Client({ name: 'plain-json', version: '1' }, { versionNegotiation: { mode } });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(server.proc.url), {
          requestInit: { headers: auth() },
          fetch: recordingFetch(seen),
        }),
      );
      server.onClose(() => client.close());
      const args = { name: 'execute', arguments: { code: LINES } };

      const plain = await client.callTool(args);
      expect(plain.isError).toBeFalsy();
      expect(seen.at(-1)?.contentType).toMatch(/^application\/json/);

      const progress: number[] = [];
      const streamed = await client.callTool(args, { onprogress: (p) => progress.push(p.progress) });
      expect(streamed.isError).toBeFalsy();
      expect(seen.at(-1)?.contentType).toMatch(/^text\/event-stream/);
      expect(progress.length).toBeGreaterThanOrEqual(2);
    },
    60_000,
  );

  it('SDK 1.x: a plain call gets application/json, a call with a progressToken streams its progress', async () => {
    const seen: Seen[] = [];
    const client = await server.connectV1('plain-json-v1', recordingFetch(seen));
    const args = { name: 'execute', arguments: { code: LINES } };

    expect((await client.callTool(args)).isError).toBeFalsy();
    expect(seen.at(-1)?.contentType).toMatch(/^application\/json/);

    const progress: number[] = [];
    const streamed = await client.callTool(args, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(streamed.isError).toBeFalsy();
    expect(seen.at(-1)?.contentType).toMatch(/^text\/event-stream/);
    expect(progress.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  /** A tools/call POST by hand, speaking the given protocol version. */
  function rawCall(version: string, id: number) {
    const u = new URL(server.proc.url);
    return rawRequest({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: 'POST',
      headers: {
        ...auth(),
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': version,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'list_sessions' } }),
    });
  }

  it('answers a raw plain call with one JSON body of known length', async () => {
    const res = await rawCall('2025-11-25', 7);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    const answer = JSON.parse(res.body) as { id: number; result?: { isError?: boolean } };
    expect(answer.id).toBe(7);
    expect(answer.result?.isError).toBeFalsy();
  });

  it('calls on reused instances keep their own protocol version, turn by turn', async () => {
    const result = async (version: string, id: number) => {
      const res = await rawCall(version, id);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      return (JSON.parse(res.body) as { result: Record<string, unknown> }).result;
    };
    for (let i = 0; i < 3; i++) {
      // structuredContent came with 2025-06-18: a 2025-03-26 call never gets it, a 2025-11-25 call always does.
      expect(await result('2025-03-26', 100 + i)).not.toHaveProperty('structuredContent');
      expect(await result('2025-11-25', 200 + i)).toHaveProperty('structuredContent');
    }
  });
});
