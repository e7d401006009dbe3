// The status page's sign-in cookie: an opaque id that is never the token, opens only the status pages, is named for
// the server's port, and stops working when it expires.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientContext } from '../../src/server/client-context.js';
import { startHttp, type HttpHandle } from '../../src/server/http.js';
import { createTinyServer } from './fixtures/tiny-server.mjs';
import { rawRequest, type RawAnswer } from './raw-http.js';

const TOKEN = 'status-token-0123456789abcdef';
const TTL_MS = 1500;

function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return rawRequest({
    host: '127.0.0.1',
    port,
    method,
    path,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    ...(method === 'POST' && { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) }),
  });
}

describe('the status sign-in cookie', () => {
  let handle: HttpHandle;

  beforeAll(async () => {
    handle = await startHttp((client: ClientContext) => createTinyServer(client), {
      host: '127.0.0.1',
      port: 0,
      tokens: [TOKEN],
      statusSignInTtlMs: TTL_MS,
      extraRoutes: (_req, res, url, client) => {
        if (!url.pathname.startsWith('/status')) return false;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ clientKey: client.clientKey }));
        return true;
      },
    });
  });

  afterAll(async () => {
    await handle?.close();
  });

  async function signIn(): Promise<{ name: string; value: string; attributes: string }> {
    const res = await send(handle.port, 'GET', `/status?token=${TOKEN}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/status');
    const header = String(res.headers['set-cookie']);
    const [pair, ...attributes] = header.split(';');
    const eq = pair!.indexOf('=');
    return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes: attributes.join(';') };
  }

  it('holds an opaque id named for the port, HttpOnly, SameSite=Strict, with an expiry', async () => {
    const c = await signIn();
    expect(c.name).toBe(`sandbox_mcp_status_${handle.port}`);
    expect(c.value).not.toContain(TOKEN);
    expect(decodeURIComponent(c.value)).not.toContain(TOKEN);
    expect(c.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.attributes).toMatch(/HttpOnly/);
    expect(c.attributes).toMatch(/SameSite=Strict/);
    expect(c.attributes).toMatch(/Path=\/status/);
    expect(c.attributes).toMatch(new RegExp(`Max-Age=${Math.ceil(TTL_MS / 1000)}`));
    expect((await signIn()).value).not.toBe(c.value);
  });

  it('opens the status pages, and never /mcp', async () => {
    const c = await signIn();
    const page = await send(handle.port, 'GET', '/status/data', { cookie: `${c.name}=${c.value}` });
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body).clientKey).toMatch(/^[0-9a-f]{32}$/);
    expect((await send(handle.port, 'POST', '/mcp', { cookie: `${c.name}=${c.value}` })).status).toBe(401);
    expect((await send(handle.port, 'POST', '/mcp', { authorization: `Bearer ${c.value}` })).status).toBe(
      401,
    );
    expect(
      (await send(handle.port, 'GET', '/status/data', { authorization: `Bearer ${c.value}` })).status,
    ).toBe(401);
    // The cookie of earlier versions, which held the token itself, is removed from the browser.
    const legacy = await send(handle.port, 'GET', '/status/data', {
      cookie: `sandbox_mcp_token=${TOKEN}; ${c.name}=${c.value}`,
    });
    expect(legacy.status).toBe(200);
    expect(String(legacy.headers['set-cookie'])).toMatch(/^sandbox_mcp_token=; Path=\/status; .*Max-Age=0/);
    // Another server's cookie name does not count here.
    const renamed = await send(handle.port, 'GET', '/status/data', {
      cookie: `sandbox_mcp_status_1=${c.value}`,
    });
    expect(renamed.status).toBe(401);
  });

  it('expires', async () => {
    const c = await signIn();
    expect((await send(handle.port, 'GET', '/status/data', { cookie: `${c.name}=${c.value}` })).status).toBe(
      200,
    );
    await new Promise((wake) => setTimeout(wake, TTL_MS + 300));
    const late = await send(handle.port, 'GET', '/status/data', { cookie: `${c.name}=${c.value}` });
    expect(late.status).toBe(401);
    // Signing in again works.
    const fresh = await signIn();
    expect(
      (await send(handle.port, 'GET', '/status', { cookie: `${fresh.name}=${fresh.value}` })).status,
    ).toBe(200);
  });
});
