// The attack on a web app's relay from this machine: a plain HTTP client (another local user, another client, or a
// DNS-rebinding page) without the app's key, with a wrong key, with a foreign Host, or from another app's page.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Harness } from './harness.js';
import { rawRequest, type RawAnswer } from './raw-http.js';

const ECHO = `from flask import Flask, request
app = Flask(__name__)

@app.route('/', defaults={'rest': ''})
@app.route('/<path:rest>')
def echo(rest):
    return {'path': request.full_path, 'cookie': request.headers.get('Cookie')}
`;

/** A GET to the relay, with its own Host header unless the test forges another. */
function get(target: URL, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return rawRequest({
    host: target.hostname,
    port: target.port,
    path,
    headers: { host: target.host, ...headers },
  });
}

/** A WebSocket handshake; resolves with the first line of the answer. */
function upgrade(target: URL, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      path,
      headers: {
        host: target.host,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(`${res.statusCode}`);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(`${res.statusCode}`);
    });
    req.on('error', reject);
    req.end();
  });
}

describe("a web app's relay", () => {
  let h: Harness;
  let url: URL;
  let keyPath: string;

  beforeAll(async () => {
    h = await start('stdio');
    const r = await h.sc('start_web_app', { code: ECHO, app_type: 'flask' });
    url = new URL(r.url);
    keyPath = url.pathname;
  }, 90_000);

  afterAll(async () => {
    await h?.close();
  });

  it('refuses a request without the key, or with a wrong one', async () => {
    const bare = await get(url, '/');
    expect(bare.status).toBe(401);
    expect(bare.body).not.toContain('"path"');
    expect((await get(url, '/anything?x=1')).status).toBe(401);
    const wrong = keyPath.replace(/[^/]+\/$/, 'A'.repeat(43) + '/');
    expect(wrong).not.toBe(keyPath);
    expect((await get(url, wrong)).status).toBe(401);
    expect((await get(url, '/', { cookie: `sandbox_mcp_app_${url.port}=${'A'.repeat(43)}` })).status).toBe(
      401,
    );
    expect(await upgrade(url, '/')).toBe('401');
  });

  it('refuses a foreign Host header even with the key (DNS rebinding)', async () => {
    for (const host of [
      `rebind.attacker.example:${url.port}`,
      `${url.hostname}:${Number(url.port) + 1}`,
      url.hostname,
      `127.0.0.1.nip.io:${url.port}`,
    ]) {
      expect((await get(url, keyPath, { host })).status, host).toBe(403);
    }
  });

  it('refuses requests from another page than its own', async () => {
    const other = `http://${url.hostname}:${Number(url.port) + 1}`;
    expect((await get(url, keyPath, { origin: other })).status).toBe(403);
    expect(
      (await get(url, keyPath, { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' })).status,
    ).toBe(403);
    expect(await upgrade(url, keyPath, { origin: other })).toBe('403');
    // The app's own page may call it.
    expect((await get(url, keyPath, { origin: url.origin, 'sec-fetch-site': 'same-origin' })).status).toBe(
      200,
    );
  });

  it('passes the key holder through, and the app sees neither the key nor a sandbox-mcp cookie', async () => {
    const direct = await get(url, `${keyPath}items/3?q=1`, {
      cookie: 'theme=dark; sandbox_mcp_status_8765=zzz',
    });
    expect(direct.status).toBe(200);
    expect(JSON.parse(direct.body)).toEqual({ path: '/items/3?q=1', cookie: 'theme=dark' });

    // A browser opening the URL: the key moves into a cookie for this relay, and leaves the address.
    const nav = await get(url, `${keyPath}items/4?q=2&r=3`, {
      'sec-fetch-mode': 'navigate',
      'sec-fetch-site': 'none',
    });
    expect(nav.status).toBe(200);
    expect(nav.body).toContain('<meta http-equiv="refresh" content="0; url=/items/4?q=2&amp;r=3">');
    expect(nav.body).not.toContain('"path"'); // the app was not asked
    expect(nav.headers['referrer-policy']).toBe('no-referrer');
    const setCookie = String(nav.headers['set-cookie']);
    expect(setCookie).toMatch(new RegExp(`^sandbox_mcp_app_${url.port}=[A-Za-z0-9_-]{43};`));
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    const cookie = setCookie.split(';')[0]!;
    const after = await get(url, '/items/4?q=2', { cookie: `a=1; ${cookie}; b=2` });
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toEqual({ path: '/items/4?q=2', cookie: 'a=1; b=2' });
  });
});
