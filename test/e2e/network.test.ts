// End-to-end: per-session network policy through the real server — none, allowlist (host proxy + in-box relay)
// and full (opt-in). Every target is a server this test runs on the host's loopback; nothing else is contacted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_URL } from '../../src/network/box-wiring.js';
import { errorOf, startStdio, type Harness } from './harness.js';

let web: Server;
let port: number;

beforeAll(async () => {
  web = createServer((req, res) => {
    const body = `hello ${req.headers.host} ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  port = (web.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => web.close(() => r()));
});

/**
 * Python that fetches a URL through the proxy the box's environment names and prints status and body. NO_PROXY
 * (localhost,127.0.0.1, so a session's own web app is reached directly) also matches names below localhost, which
 * stand in for real domains here, so the snippet drops it for its own request.
 */
const fetchCode = (url: string, direct = false) => `
import os, urllib.request, urllib.error
${direct ? '' : "os.environ.pop('no_proxy', None); os.environ.pop('NO_PROXY', None)"}
try:
    with urllib.request.urlopen(${JSON.stringify(url)}, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print('HTTPError', e.code, e.headers.get('x-sandbox-error'), e.read().decode().splitlines()[0])
except Exception as e:
    print('ERR', type(e).__name__, e)
`;

describe('network policy', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("gives sessions no network by default: the host's loopback server is unreachable", async () => {
    const s = await h.sc('create_session', {});
    expect(s.network).toBe('none');
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: `import socket\ntry:\n    socket.create_connection(('127.0.0.1', ${port}), timeout=3); print('connected')\nexcept OSError as e:\n    print('refused', e.errno)`,
    });
    expect(r.stdout).toMatch(/^refused/);
  });

  it('lets a listed host through the proxy and refuses an unlisted one as network_denied', async () => {
    const s = await h.sc('create_session', { network: 'allowlist', allowed_domains: ['allowed.localhost'] });
    expect(s.network).toBe('allowlist');
    expect(s.allowed_domains).toEqual(['allowed.localhost']);

    // First, while the box's NO_PROXY is in force: 127.0.0.1 goes direct and meets the box's own, empty loopback.
    const direct = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://127.0.0.1:${port}/`, true),
    });
    expect(direct.stdout).toMatch(/^ERR .*refused/i);

    const ok = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://allowed.localhost:${port}/hi`),
    });
    expect(ok.stdout.trim()).toBe(`200 hello allowed.localhost:${port} /hi`);

    // get_sandbox_limitations names the session's allowlist; nothing has been refused yet.
    const before = await h.sc('get_sandbox_limitations', { session_id: s.session_id });
    expect(before.network).toMatchObject({
      policy: 'allowlist',
      enforced: true,
      allowed_domains: ['allowed.localhost'],
      proxy: RELAY_URL,
      recent_denials: [],
    });
    expect(before.network.description).toMatch(/^only allowed\.localhost through the sandbox proxy/);

    const denied = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://other.localhost:${port}/secret`),
    });
    expect(denied.stdout).toMatch(
      /^HTTPError 403 network_denied network_denied: 'other.localhost' is not in this session's allowlist \(allowed\.localhost\)/,
    );
    expect(denied.notices.join('\n')).toMatch(/network_denied: GET other\.localhost:\d+ refused/);
    // ...and it now lists that denial.
    const after = await h.sc('get_sandbox_limitations', { session_id: s.session_id });
    expect(after.network.allowed_domains).toEqual(['allowed.localhost']);
    expect(after.network.recent_denials).toEqual([
      {
        at: expect.any(String),
        method: 'GET',
        host: 'other.localhost',
        port,
        reason: "'other.localhost' is not in this session's allowlist (allowed.localhost)",
        rule: null,
      },
    ]);
    // A denial during a shell command comes back with that command, not with the next execute.
    const curl = await h.sc('shell_execute', {
      session_id: s.session_id,
      command: `env -u no_proxy -u NO_PROXY curl -s -o /dev/null -w "%{http_code}" http://other.localhost:${port}/again`,
    });
    expect(curl.stdout).toBe('403');
    expect(curl.notices.join('\n')).toMatch(/network_denied: GET other\.localhost:\d+ refused/);
    // Both refusals are in the audit log, with the host in their detail.
    const audited = (await h.sc('get_audit_log', { session_id: s.session_id })).entries as Array<{
      kind: string;
      status: string;
      detail: { host?: string } | null;
    }>;
    const refusals = audited.filter((e) => e.kind === 'network_denied');
    expect(refusals).toHaveLength(2);
    expect(refusals.every((e) => e.status === 'denied' && e.detail?.host === 'other.localhost')).toBe(true);

    // A CONNECT tunnel to a listed host carries bytes both ways through the relay and the host proxy.
    const tunnelled = await h.sc('execute', {
      session_id: s.session_id,
      code: `
import socket
s = socket.create_connection(('127.0.0.1', 3128), timeout=5)
s.sendall(b'CONNECT allowed.localhost:${port} HTTP/1.1\\r\\nHost: allowed.localhost:${port}\\r\\n\\r\\n')
head = b''
while b'\\r\\n\\r\\n' not in head:
    head += s.recv(1)
s.sendall(b'GET /tunnel HTTP/1.1\\r\\nHost: allowed.localhost\\r\\nConnection: close\\r\\n\\r\\n')
body = b''
while chunk := s.recv(4096):
    body += chunk
print(head.split(b'\\r\\n')[0].decode(), '|', body.decode().split('\\r\\n\\r\\n', 1)[1])
`,
    });
    expect(tunnelled.stdout.trim()).toBe(
      `HTTP/1.1 200 Connection Established | hello allowed.localhost /tunnel`,
    );

    // https goes through CONNECT: the tunnel is refused before any TLS, and Python names the 403.
    const tunnel = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`https://other.localhost:${port}/`),
    });
    expect(tunnel.stdout).toMatch(/Tunnel connection failed: 403 .*network_denied/);

    // The raw IP is another host as far as the allowlist goes.
    const ip = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://127.0.0.1:${port}/`),
    });
    expect(ip.stdout).toMatch(/^HTTPError 403 network_denied network_denied: '127\.0\.0\.1' is not in/);
  });

  it('refuses bad allowlists and unknown modes with invalid_argument', async () => {
    const wide = await h.call('create_session', { network: 'allowlist', allowed_domains: ['*.com'] });
    expect(wide.isError).toBe(true);
    expect(errorOf(wide).code).toBe('invalid_argument');
    const empty = await h.call('create_session', { network: 'allowlist' });
    expect(errorOf(empty).code).toBe('invalid_argument');
    const stray = await h.call('create_session', { network: 'none', allowed_domains: ['pypi.org'] });
    expect(errorOf(stray).code).toBe('invalid_argument');
  });

  it("refuses 'full' unless the server allows it, with a hint naming the flag", async () => {
    const r = await h.call('create_session', { network: 'full' });
    expect(r.isError).toBe(true);
    const err = errorOf(r);
    expect(err.code).toBe('policy_denied');
    expect(err.hint).toMatch(/--allow-full-network/);
  });
});

describe('network full, allowed by the server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--allow-full-network'] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("shares the host's network: the session reaches the host's loopback server", async () => {
    const s = await h.sc('create_session', { network: 'full' });
    expect(s.network).toBe('full');
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://127.0.0.1:${port}/full`),
    });
    expect(r.stdout.trim()).toBe(`200 hello 127.0.0.1:${port} /full`);
  });

  it('still gives a session without a network option no network', async () => {
    const s = await h.sc('create_session', {});
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://127.0.0.1:${port}/`),
    });
    expect(r.stdout).toMatch(/^ERR/);
  });
});

describe('server-wide network default', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({
      args: ['--network-default', 'allowlist', '--network-allowlist', 'allowed.localhost'],
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('applies to the default session', async () => {
    const r = await h.sc('execute', { code: fetchCode(`http://allowed.localhost:${port}/default`) });
    expect(r.stdout.trim()).toBe(`200 hello allowed.localhost:${port} /default`);
    const d = await h.sc('execute', { code: fetchCode(`http://nope.localhost:${port}/`) });
    expect(d.stdout).toMatch(/HTTPError 403 network_denied/);
    const lim = await h.sc('get_sandbox_limitations');
    expect(lim.network.policy).toBe('allowlist');
    expect(lim.network.allowed_domains).toEqual(['allowed.localhost']);
    expect(lim.network.recent_denials.map((x: { host: string }) => x.host)).toEqual(['nope.localhost']);
  });

  it("keeps a session's allowlist across a server restart without the defaults", async () => {
    const s = await h.sc('create_session', { network: 'allowlist', allowed_domains: ['kept.localhost'] });
    const dataDir = h.dataDir;
    await h.close({ keepData: true });
    h = await startStdio({ dataDir });
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://kept.localhost:${port}/again`),
    });
    expect(r.stdout.trim()).toBe(`200 hello kept.localhost:${port} /again`);
    const d = await h.sc('execute', {
      session_id: s.session_id,
      code: fetchCode(`http://allowed.localhost:${port}/`),
    });
    expect(d.stdout).toMatch(/HTTPError 403 network_denied/);
  });
});
