// End-to-end checks of the HTTP transport with real v1 and v2 SDK clients over loopback. Never contact anything but 127.0.0.1.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { clientKeyForToken } from '../../src/server/auth.js';
import type { ClientContext } from '../../src/server/client-context.js';
import { startHttp, type HttpHandle } from '../../src/server/http.js';
import { createTinyServer, PROGRESS_DURATION_MS, PROGRESS_STEPS } from './fixtures/tiny-server.mjs';

const TOKEN_A = 'token-a-0123456789abcdef';
const TOKEN_B = 'token-b-0123456789abcdef';
const INIT_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http rather than fetch, because fetch will not send a forged Host header. */
function raw(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mcp',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

async function v2Client(url: string, token: string, mode: 'auto' | 'legacy'): Promise<Client> {
  const client = new Client({ name: 'v2-test', version: '1.0.0' }, { versionNegotiation: { mode } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: bearer(token) } }),
  );
  return client;
}

async function v1Client(url: string, token: string): Promise<V1Client> {
  const client = new V1Client({ name: 'v1-test', version: '1.0.0' });
  await client.connect(new V1Transport(new URL(url), { requestInit: { headers: bearer(token) } }));
  return client;
}

interface ProgressSeen {
  progress: number[];
  firstAt: number;
  resultAt: number;
}

/** Runs the slow tool and records when each notification and the result arrived. */
async function trackProgress(
  call: (onprogress: (p: { progress: number }) => void) => Promise<unknown>,
): Promise<ProgressSeen> {
  const progress: number[] = [];
  let firstAt = Number.NaN;
  await call((p) => {
    if (progress.length === 0) firstAt = Date.now();
    progress.push(p.progress);
  });
  return { progress, firstAt, resultAt: Date.now() };
}

describe('HTTP transport', () => {
  let handle: HttpHandle;
  const seen: ClientContext[] = [];
  const extraCalls: string[] = [];

  beforeAll(async () => {
    handle = await startHttp(
      (client) => {
        seen.push(client);
        return createTinyServer(client);
      },
      {
        host: '127.0.0.1',
        port: 0,
        tokens: [TOKEN_A, TOKEN_B],
        allowedHosts: ['sandbox.internal'],
        allowedOrigins: ['https://app.example', 'tools.example'],
        maxBodyBytes: 64 * 1024,
        extraRoutes: (_req, res, url, client) => {
          extraCalls.push(url.pathname);
          if (url.pathname !== '/status') return false;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, clientKey: client.clientKey }));
          return true;
        },
      },
    );
  });

  afterAll(async () => {
    await handle.close();
  });

  it('reports the free port it picked for port 0', () => {
    expect(handle.port).toBeGreaterThan(0);
    expect(handle.url).toBe(`http://127.0.0.1:${handle.port}/mcp`);
  });

  it('serves a v2 client in the 2026-07-28 era: tools, echo and structuredContent', async () => {
    const client = await v2Client(handle.url, TOKEN_A, 'auto');
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'slow_progress', 'test_tool_with_progress']);
      const echo = tools.find((t) => t.name === 'echo');
      expect(echo?.outputSchema?.properties).toHaveProperty('clientKey');
      const result = await client.callTool({ name: 'echo', arguments: { text: 'héllo' } });
      expect(result.structuredContent).toEqual({
        text: 'héllo',
        length: 5,
        clientKey: clientKeyForToken(TOKEN_A),
      });
    } finally {
      await client.close();
    }
  });

  it('serves a v2 client that stays on the 2025-11-25 initialize handshake', async () => {
    const client = await v2Client(handle.url, TOKEN_A, 'legacy');
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2025-11-25');
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
      const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
      expect(result.structuredContent).toEqual({
        text: 'x',
        length: 1,
        clientKey: clientKeyForToken(TOKEN_A),
      });
    } finally {
      await client.close();
    }
  });

  it('serves the v1 SDK client (2025-11-25 initialize handshake)', async () => {
    const client = await v1Client(handle.url, TOKEN_A);
    try {
      expect(client.getServerVersion()).toEqual({ name: 'tiny', version: '1.0.0' });
      const { tools } = await client.listTools();
      expect(tools.find((t) => t.name === 'echo')?.outputSchema).toBeDefined();
      const result = await client.callTool({ name: 'echo', arguments: { text: 'v1' } });
      expect(result.structuredContent).toEqual({
        text: 'v1',
        length: 2,
        clientKey: clientKeyForToken(TOKEN_A),
      });
    } finally {
      await client.close();
    }
  });

  it('delivers progress notifications during a tool call to v2 (both eras) and v1 clients', async () => {
    const modern = await v2Client(handle.url, TOKEN_A, 'auto');
    const legacy = await v2Client(handle.url, TOKEN_A, 'legacy');
    const v1 = await v1Client(handle.url, TOKEN_A);
    try {
      const args = { name: 'slow_progress', arguments: { steps: PROGRESS_STEPS } };
      const runs = await Promise.all([
        trackProgress((onprogress) => modern.callTool(args, { onprogress })),
        trackProgress((onprogress) => legacy.callTool(args, { onprogress })),
        trackProgress((onprogress) => v1.callTool(args, undefined, { onprogress })),
      ]);
      for (const run of runs) {
        expect(run.progress).toEqual([...Array(PROGRESS_STEPS).keys()]);
        // Streamed while the tool ran, not flushed together with the result.
        expect(run.resultAt - run.firstAt).toBeGreaterThan(PROGRESS_DURATION_MS / 2);
      }
    } finally {
      await Promise.all([modern.close(), legacy.close(), v1.close()]);
    }
  });

  it('answers 401 with a Bearer challenge when the token is missing', async () => {
    const res = await raw(handle.port, { body: INIT_BODY });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(res.body).not.toContain(TOKEN_A);
  });

  it('answers 401 invalid_token for a wrong or malformed token', async () => {
    for (const authorization of [`Bearer ${TOKEN_A}x`, 'Bearer nope', `Basic ${TOKEN_A}`]) {
      const res = await raw(handle.port, { body: INIT_BODY, headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    }
    const wrong = await raw(handle.port, { body: INIT_BODY, headers: bearer('wrong-token-0123456789') });
    expect(wrong.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a connecting SDK client without a token', async () => {
    const client = new Client({ name: 'anon', version: '1' });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(handle.url)))).rejects.toThrow();
  });

  it('answers 403 to a foreign Host even with a valid token, before building a server', async () => {
    const before = seen.length;
    const res = await raw(handle.port, {
      body: INIT_BODY,
      headers: { ...bearer(TOKEN_A), host: `evil.example:${handle.port}` },
    });
    expect(res.status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it('accepts localhost names and configured allowedHosts in Host', async () => {
    for (const host of [`localhost:${handle.port}`, `127.0.0.1:${handle.port}`, 'SANDBOX.internal:80']) {
      const res = await raw(handle.port, { body: INIT_BODY, headers: { ...bearer(TOKEN_A), host } });
      expect(res.status, host).toBe(200);
    }
  });

  it('answers 403 to a foreign or opaque Origin', async () => {
    for (const origin of ['http://evil.example', 'https://app.example:444', 'null']) {
      const res = await raw(handle.port, { body: INIT_BODY, headers: { ...bearer(TOKEN_A), origin } });
      expect(res.status, origin).toBe(403);
    }
  });

  it('accepts localhost and configured origins', async () => {
    const origins = [`http://localhost:${handle.port}`, 'https://app.example', 'http://tools.example:9000'];
    for (const origin of origins) {
      const res = await raw(handle.port, { body: INIT_BODY, headers: { ...bearer(TOKEN_A), origin } });
      expect(res.status, origin).toBe(200);
    }
  });

  it('gives each token its own clientKey', async () => {
    const a = await v1Client(handle.url, TOKEN_A);
    const b = await v1Client(handle.url, TOKEN_B);
    try {
      const ra = await a.callTool({ name: 'echo', arguments: { text: 'a' } });
      const rb = await b.callTool({ name: 'echo', arguments: { text: 'b' } });
      expect(ra.structuredContent).toMatchObject({ clientKey: clientKeyForToken(TOKEN_A) });
      expect(rb.structuredContent).toMatchObject({ clientKey: clientKeyForToken(TOKEN_B) });
      expect(clientKeyForToken(TOKEN_A)).not.toBe(clientKeyForToken(TOKEN_B));
      const keys = new Set(seen.map((c) => c.clientKey));
      expect(keys).toEqual(new Set([clientKeyForToken(TOKEN_A), clientKeyForToken(TOKEN_B)]));
      expect(seen.every((c) => c.transport === 'http')).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('runs extra routes only after the token check, and 404s what nobody handles', async () => {
    const calls = extraCalls.length;
    const anonymous = await raw(handle.port, { method: 'GET', path: '/status' });
    expect(anonymous.status).toBe(401);
    expect(extraCalls.length).toBe(calls);

    const status = await raw(handle.port, { method: 'GET', path: '/status', headers: bearer(TOKEN_B) });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body)).toEqual({ ok: true, clientKey: clientKeyForToken(TOKEN_B) });

    const missing = await raw(handle.port, { method: 'GET', path: '/nope', headers: bearer(TOKEN_B) });
    expect(missing.status).toBe(404);
  });

  it('answers 413 to a body over the limit without building a server', async () => {
    const before = seen.length;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
      params: { pad: 'x'.repeat(70 * 1024) },
    });
    const res = await raw(handle.port, { body, headers: bearer(TOKEN_A) });
    expect(res.status).toBe(413);
    expect(seen.length).toBe(before);
  });
});

describe('HTTP transport shutdown', () => {
  it('closes promptly while a tool call is still streaming', async () => {
    const handle = await startHttp((client) => createTinyServer(client), {
      host: '127.0.0.1',
      port: 0,
      tokens: [TOKEN_A],
    });
    const client = await v2Client(handle.url, TOKEN_A, 'auto');
    let gotProgress!: () => void;
    const progressed = new Promise<void>((resolve) => (gotProgress = resolve));
    // The client is left to notice the dropped stream on its own; only the server side is under test here.
    void client
      .callTool({ name: 'slow_progress', arguments: { steps: 1 } }, { onprogress: () => gotProgress() })
      .catch(() => undefined);
    await progressed;
    const started = Date.now();
    await handle.close();
    expect(Date.now() - started).toBeLessThan(PROGRESS_DURATION_MS / 2);
    await expect(raw(handle.port, { body: INIT_BODY, headers: bearer(TOKEN_A) })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await client.close();
  });
});
