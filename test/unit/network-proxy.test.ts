// Unit tests for the allowlist proxy over its Unix socket: http forwarding, CONNECT tunnels, denials with the rule,
// and the loopback guard. Every upstream is a server this test runs on 127.0.0.1; names resolve through a stub.
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDomainRules } from '../../src/network/domains.js';
import { AllowlistProxy, parseAuthority, type ProxyDenial } from '../../src/network/proxy.js';
import { decideTarget } from '../../src/network/target.js';

let dir: string;
let upstream: Server;
let port: number;
let proxy: AllowlistProxy;
const denials: ProxyDenial[] = [];

// "public.test" stands for a public name that DNS answers with a loopback address (a rebinding attempt).
const stubLookup = async (host: string) => (host === 'public.test' ? ['127.0.0.1'] : ['198.51.100.7']);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'proxy-test-'));
  upstream = createServer((req, res) =>
    res.end(`up ${req.method} ${req.headers.host} ${req.url} ${req.headers['proxy-authorization'] ?? '-'}`),
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  port = (upstream.address() as AddressInfo).port;
  proxy = AllowlistProxy.start({
    socketPath: join(dir, 'p.sock'),
    rules: parseDomainRules(['allowed.localhost', 'public.test']),
    onDenied: (d) => denials.push(d),
    lookup: stubLookup,
  });
});

afterAll(async () => {
  await proxy.close();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function viaProxy(
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: proxy.socketPath, method, path: target, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends a raw CONNECT and returns the proxy's first response bytes, then (if tunnelled) an HTTP answer through it. */
function rawConnect(authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(proxy.socketPath);
    let data = '';
    let sent = false;
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      data += c;
      if (!sent && data.startsWith('HTTP/1.1 200')) {
        sent = true;
        s.write(`GET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      }
    });
    s.on('end', () => resolve(data));
    s.on('error', reject);
    s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

describe('allowlist proxy', () => {
  it('forwards absolute-URI http requests to a listed host and drops proxy headers', async () => {
    const r = await viaProxy('GET', `http://allowed.localhost:${port}/a?b=1`, {
      'proxy-authorization': 'Basic x',
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe(`up GET allowed.localhost:${port} /a?b=1 -`);
  });

  it('answers 403 naming the allowlist for an unlisted host, and records the denial', async () => {
    const r = await viaProxy('GET', `http://other.localhost:${port}/`);
    expect(r.status).toBe(403);
    expect(r.headers['x-sandbox-error']).toBe('network_denied');
    expect(r.body).toMatch(
      /^network_denied: 'other\.localhost' is not in this session's allowlist \(allowed\.localhost, public\.test\)/,
    );
    expect(denials.at(-1)).toMatchObject({ method: 'GET', host: 'other.localhost', port, rule: null });
  });

  it('tunnels CONNECT to a listed host and refuses an unlisted one with 403', async () => {
    const ok = await rawConnect(`allowed.localhost:${port}`);
    expect(ok).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(ok).toContain('up GET x /tunnelled');
    const no = await rawConnect(`127.0.0.1:${port}`);
    expect(no).toMatch(/^HTTP\/1\.1 403 .*network_denied/);
    expect(no).toContain("'127.0.0.1' is not in this session's allowlist");
  });

  it('refuses a listed public name whose address is loopback, naming the rule', async () => {
    const r = await viaProxy('GET', `http://public.test:${port}/`);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/'public\.test' resolves to 127\.0\.0\.1.*rule 'public\.test' does not name it/);
    expect(denials.at(-1)?.rule).toBe('public.test');
  });

  it('refuses non-proxy requests and https URLs without CONNECT', async () => {
    expect((await viaProxy('GET', '/relative')).status).toBe(400);
    expect((await viaProxy('GET', `https://allowed.localhost:${port}/`)).status).toBe(400);
  });
});

describe('unreachable hosts', () => {
  it('answers 502 for a listed host that does not resolve, without calling it a denial', async () => {
    const before = denials.length;
    const failing = AllowlistProxy.start({
      socketPath: join(dir, 'q.sock'),
      rules: parseDomainRules(['gone.example']),
      onDenied: (d) => denials.push(d),
      lookup: async () => {
        throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
      },
    });
    try {
      const r = await new Promise<number>((resolve, reject) => {
        const req = request({ socketPath: failing.socketPath, path: 'http://gone.example/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(r).toBe(502);
      expect(denials.length).toBe(before);
    } finally {
      await failing.close();
    }
  });
});

describe('forwarded requests whose client goes away', () => {
  let hanging: Server;
  let hangPort: number;
  let arrived: (held: { closed: Promise<void> }) => void = () => {};

  beforeAll(async () => {
    // Never answers: the upstream request stays open until the proxy drops it.
    hanging = createServer((req) => {
      arrived({ closed: new Promise<void>((r) => req.socket.once('close', () => r())) });
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    hangPort = (hanging.address() as AddressInfo).port;
  });

  afterAll(async () => {
    hanging.closeAllConnections();
    await new Promise<void>((r) => hanging.close(() => r()));
  });

  /** Starts a request through `via` to the hanging upstream; resolves once the upstream holds it. */
  async function hold(via: AllowlistProxy): Promise<{ abort: () => void; upstreamClosed: Promise<void> }> {
    const reached = new Promise<{ closed: Promise<void> }>((r) => (arrived = r));
    const req = request({ socketPath: via.socketPath, path: `http://allowed.localhost:${hangPort}/slow` });
    req.on('error', () => {});
    req.end();
    return { abort: () => req.destroy(), upstreamClosed: (await reached).closed };
  }

  const within = (p: Promise<void>, ms: number) =>
    Promise.race([p.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still open'), ms))]);

  it('closes the upstream request when the client disconnects', async () => {
    const { abort, upstreamClosed } = await hold(proxy);
    abort();
    expect(await within(upstreamClosed, 2000)).toBe('closed');
  });

  it('closes forwarded upstream requests when the proxy closes', async () => {
    const own = AllowlistProxy.start({
      socketPath: join(dir, 'c.sock'),
      rules: parseDomainRules(['allowed.localhost']),
      lookup: stubLookup,
    });
    const { upstreamClosed } = await hold(own);
    await own.close();
    expect(await within(upstreamClosed, 2000)).toBe('closed');
  });
});

describe('target decisions', () => {
  it('parses CONNECT authorities, IPv6 included', () => {
    expect(parseAuthority('pypi.org:443')).toEqual({ host: 'pypi.org', port: 443 });
    expect(parseAuthority('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(parseAuthority('pypi.org')).toBeNull();
  });

  it('dials the address it checked, and lets an exact loopback rule reach loopback', async () => {
    const rules = parseDomainRules(['127.0.0.1', 'pypi.org']);
    expect(await decideTarget(rules, '127.0.0.1', 80, stubLookup)).toMatchObject({
      ok: true,
      address: '127.0.0.1',
    });
    expect(await decideTarget(rules, 'pypi.org', 443, stubLookup)).toMatchObject({
      ok: true,
      address: '198.51.100.7',
    });
    expect(await decideTarget(rules, 'pypi.org', 0, stubLookup)).toMatchObject({ ok: false });
  });

  it('refuses an allowed name whose address is any form of the host itself, and dials a public one instead', async () => {
    const rules = parseDomainRules(['*.example.com']);
    for (const form of [
      '::ffff:0.0.0.0',
      '::ffff:0:0',
      '::ffff:7f00:1',
      '::ffff:0:7f00:1',
      '::127.0.0.1',
      '64:ff9b::7f00:1',
      '::ffff:a9fe:a9fe',
      '::ffff:e000:1',
      '::ffff:255.255.255.255',
      '0.0.0.0',
    ]) {
      expect(await decideTarget(rules, 'x.example.com', 80, async () => [form]), form).toMatchObject({
        ok: false,
        denied: true,
        reason: expect.stringContaining(`resolves to ${form},`),
      });
      expect(
        await decideTarget(rules, 'x.example.com', 80, async () => [form, '198.51.100.7']),
        form,
      ).toMatchObject({ ok: true, address: '198.51.100.7' });
    }
    // a rule naming the address itself reaches it, in any spelling of that address
    expect(
      await decideTarget(parseDomainRules(['::ffff:7f00:1']), '::ffff:7f00:1', 80, stubLookup),
    ).toMatchObject({ ok: true, address: '::ffff:7f00:1' });
  });

  it('answers a name that gets no answer in time as timed out, not denied', async () => {
    const slow = async () =>
      Promise.reject(Object.assign(new Error('no answer within 5.0 s'), { code: 'ETIMEOUT' }));
    expect(await decideTarget(parseDomainRules(['*.example.com']), 'x.example.com', 443, slow)).toEqual({
      ok: false,
      denied: false,
      timedOut: true,
      reason: "'x.example.com' could not be resolved: no answer within 5.0 s (ETIMEOUT)",
      rule: expect.objectContaining({ text: '*.example.com' }),
    });
  });
});
