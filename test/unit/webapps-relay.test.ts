// The host side of the relay: HTTP on 127.0.0.2 forwarded to a Unix socket behind the app's key — large bodies both
// ways, keep-alive, WebSocket-style upgrades piped byte for byte, socket paths too long for sun_path, no following a
// planted symlink, a port that is really free after close — and the gate's rules for Host, key, cookies and origin.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { HostRelay } from '../../src/webapps/host-relay.js';
import { RelayGate } from '../../src/webapps/relay-gate.js';

const root = mkdtempSync(join(tmpdir(), 'webapps-relay-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An HTTP server on a Unix socket: /big sends 20 MiB, anything else echoes what it got; upgrades echo bytes. */
function unixApp(path: string): Promise<http.Server> {
  const srv = http.createServer((req, res) => {
    if (req.url === '/big') {
      res.end(Buffer.alloc(20 * 1024 * 1024, 7));
      return;
    }
    let got = 0;
    req.on('data', (d: Buffer) => (got += d.length));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          got,
          headers: req.headers,
        }),
      );
    });
  });
  srv.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Cookie: ${req.headers.cookie ?? ''}\r\n\r\n`,
    );
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  return new Promise((res) => srv.listen(path, () => res(srv)));
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(
  relay: HostRelay,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer; agent?: http.Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.2',
        port: relay.port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const keyPath = (relay: HostRelay) => new URL(relay.url).pathname;

/** What a client sees when it sends a request and the relay cannot reach the app. */
function outcome(relay: HostRelay): Promise<string> {
  return new Promise((res) => {
    const c = net.connect({ port: relay.port, host: '127.0.0.2' });
    c.on('data', () => res('answered'));
    c.on('close', () => res('closed'));
    c.on('error', () => undefined);
    c.end(`GET ${keyPath(relay)} HTTP/1.1\r\nHost: 127.0.0.2:${relay.port}\r\n\r\n`);
  });
}

function connectError(port: number): Promise<string> {
  return new Promise((res) => {
    const c = net.connect({ port, host: '127.0.0.2' });
    c.on('connect', () => {
      c.destroy();
      res('connected');
    });
    c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
  });
}

describe('HostRelay', () => {
  it('hands out a key-carrying URL on 127.0.0.2 and forwards large bodies both ways, keep-alive included', async () => {
    const sock = join(root, 'a.sock');
    const srv = await unixApp(sock);
    const relay = await HostRelay.listen(sock);
    expect(relay.url).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.2:${relay.port}/sandbox-mcp-key/[A-Za-z0-9_-]{43}/$`),
    );
    const body = Buffer.alloc(20 * 1024 * 1024, 3);
    const up = await request(relay, `${keyPath(relay)}upload?x=1`, { method: 'POST', body });
    expect(JSON.parse(up.body.toString())).toMatchObject({
      method: 'POST',
      url: '/upload?x=1',
      got: body.length,
    });
    const big = await request(relay, `${keyPath(relay)}big`);
    expect(big.body.length).toBe(20 * 1024 * 1024);
    // Three requests on one client connection travel over one app connection.
    let appConnections = 0;
    srv.on('connection', () => appConnections++);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) expect((await request(relay, keyPath(relay), { agent })).status).toBe(200);
    expect(appConnections).toBe(1);
    agent.destroy();
    await relay.close();
    srv.close();
  });

  it('pipes an upgrade byte for byte, without the sandbox-mcp cookies', async () => {
    const sock = join(root, 'u.sock');
    const srv = await unixApp(sock);
    const relay = await HostRelay.listen(sock);
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.2',
        port: relay.port,
        path: keyPath(relay),
        headers: { connection: 'Upgrade', upgrade: 'echo', cookie: 'a=1; sandbox_mcp_status_1=s; b=2' },
      });
      req.on('upgrade', (res, socket) => {
        const got: Buffer[] = [];
        socket.on('data', (d: Buffer) => {
          got.push(d);
          if (Buffer.concat(got).length >= 5) {
            socket.destroy();
            resolve(`${res.headers['x-cookie']}|${Buffer.concat(got).toString()}`);
          }
        });
        socket.write('hello');
      });
      req.on('error', reject);
      req.end();
    });
    expect(echoed).toBe('a=1; b=2|hello');
    await relay.close();
    srv.close();
  });

  it('reaches a socket whose path is longer than sun_path allows', async () => {
    const deep = join(root, 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(deep, { recursive: true });
    const sock = join(deep, 'app.sock');
    expect(Buffer.byteLength(sock)).toBeGreaterThan(108);
    // The server binds through a relative path; the relay connects through its folder's descriptor.
    const cwd = process.cwd();
    process.chdir(deep);
    const srv = await unixApp('app.sock');
    process.chdir(cwd);
    const relay = await HostRelay.listen(sock);
    expect((await request(relay, `${keyPath(relay)}deep`)).status).toBe(200);
    await relay.close();
    srv.close();
  });

  it('frees its port on close, dropping open connections', async () => {
    const sock = join(root, 'b.sock');
    const srv = await unixApp(sock);
    const relay = await HostRelay.listen(sock);
    const port = relay.port;
    const open = net.connect({ port, host: '127.0.0.2' });
    const closed = new Promise((r) => open.on('close', r));
    await new Promise((r) => open.on('connect', r));
    await relay.close();
    await closed;
    expect(await connectError(port)).toBe('ECONNREFUSED');
    const again = await HostRelay.listen(sock, port);
    expect(again.port).toBe(port);
    expect(again.url).not.toBe(relay.url); // a fresh key
    await expect(HostRelay.listen(sock, port)).rejects.toBeInstanceOf(SandboxError);
    await again.close();
    srv.close();
  });

  it('never follows a symlink planted where the socket should be', async () => {
    // A socket outside the box's folder that the box must not be able to point the host at.
    const outside = join(root, 'host-only.sock');
    const srv = await unixApp(outside);
    const boxDir = join(root, 'box-sockets');
    mkdirSync(boxDir);
    symlinkSync(outside, join(boxDir, 'app.sock'));
    const relay = await HostRelay.listen(join(boxDir, 'app.sock'));
    expect(await outcome(relay)).toBe('closed');
    await relay.close();
    srv.close();
  });

  it('closes the client connection when nothing listens on the socket', async () => {
    const relay = await HostRelay.listen(join(root, 'missing.sock'));
    expect(await outcome(relay)).toBe('closed');
    await relay.close();
  });
});

describe('RelayGate', () => {
  const KEY = 'k'.repeat(43);
  const gate = new RelayGate(40123, KEY);
  const host = '127.0.0.2:40123';
  const check = (url: string, headers: Record<string, string> = {}, method = 'GET') =>
    gate.check({ method, url, headers: { host, ...headers } });

  it('asks for the relay itself in Host', () => {
    for (const h of [
      'localhost:40123',
      '127.0.0.1:40123',
      '127.0.0.2:40124',
      '127.0.0.2',
      'evil.example:40123',
    ]) {
      expect(gate.check({ url: `/sandbox-mcp-key/${KEY}/`, headers: { host: h } }), h).toMatchObject({
        kind: 'refuse',
        status: 403,
      });
    }
    expect(gate.check({ url: `/sandbox-mcp-key/${KEY}/`, headers: {} })).toMatchObject({ status: 403 });
    expect(check(`/sandbox-mcp-key/${KEY}/`, { host: '127.0.0.2:40123'.toUpperCase() }).kind).toBe('pass');
  });

  it('takes the key from the path or its own cookie, and from nothing else', () => {
    expect(check('/')).toMatchObject({ kind: 'refuse', status: 401 });
    expect(check('/sandbox-mcp-key/nope/')).toMatchObject({ kind: 'refuse', status: 401 });
    expect(check('/sandbox-mcp-key')).toMatchObject({ kind: 'refuse', status: 401 });
    expect(check('/', { cookie: `sandbox_mcp_app_40124=${KEY}` })).toMatchObject({ status: 401 });
    expect(check('/', { authorization: `Bearer ${KEY}` })).toMatchObject({ status: 401 });
    expect(check(`/?key=${KEY}`)).toMatchObject({ status: 401 });
    expect(check('http://127.0.0.2:40123/')).toMatchObject({ status: 400 });
    expect(check(`/sandbox-mcp-key/${KEY}`)).toEqual({ kind: 'pass', path: '/', cookie: undefined });
    expect(check(`/sandbox-mcp-key/${KEY}?a=1`)).toEqual({ kind: 'pass', path: '/?a=1', cookie: undefined });
    expect(check(`/sandbox-mcp-key/${KEY}/x/y?a=1`)).toEqual({
      kind: 'pass',
      path: '/x/y?a=1',
      cookie: undefined,
    });
    // A cookie of this name tossed in by another app does not hide the real one.
    expect(check('/p', { cookie: `sandbox_mcp_app_40123=junk; sandbox_mcp_app_40123=${KEY}; t=1` })).toEqual({
      kind: 'pass',
      path: '/p',
      cookie: 't=1',
    });
    // The app's own paths that merely start alike are the app's.
    expect(check('/sandbox-mcp-keys', { cookie: `sandbox_mcp_app_40123=${KEY}` })).toMatchObject({
      path: '/sandbox-mcp-keys',
    });
  });

  it('moves the key into an HttpOnly cookie for a browser, without sending it to another site', () => {
    const nav = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' };
    expect(check(`/sandbox-mcp-key/${KEY}/a?b=1`, nav)).toEqual({
      kind: 'enter',
      location: '/a?b=1',
      setCookie: `sandbox_mcp_app_40123=${KEY}; Path=/; HttpOnly; SameSite=Strict`,
    });
    expect(check(`/sandbox-mcp-key/${KEY}//evil.example/x`, nav)).toMatchObject({
      location: '/evil.example/x',
    });
    expect(check(`/sandbox-mcp-key/${KEY}/\\evil.example`, nav)).toMatchObject({ location: '/evil.example' });
    expect(
      gate.check({ method: 'GET', url: `/sandbox-mcp-key/${KEY}/`, headers: { host, ...nav } }, true).kind,
    ).toBe('pass');
  });

  it("refuses what another site's page sends, but lets a link or the app's own page through", () => {
    const cookie = `sandbox_mcp_app_40123=${KEY}`;
    const from = (headers: Record<string, string>, method = 'GET') =>
      check('/', { cookie, ...headers }, method).kind;
    expect(from({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' })).toBe('refuse');
    expect(from({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'websocket' })).toBe('refuse');
    expect(from({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })).toBe('refuse');
    expect(from({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' }, 'POST')).toBe('refuse');
    expect(from({ origin: 'http://127.0.0.2:40124' })).toBe('refuse');
    expect(from({ origin: 'null' }, 'POST')).toBe('refuse');
    expect(from({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' })).toBe('pass');
    expect(from({ 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', origin: 'null' }, 'POST')).toBe(
      'pass',
    );
    expect(from({ 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' })).toBe('pass');
    expect(from({ origin: 'http://127.0.0.2:40123' }, 'POST')).toBe('pass');
    expect(from({})).toBe('pass');
  });
});
