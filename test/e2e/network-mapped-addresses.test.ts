// Attack: an allowed name whose address is an IPv4-mapped, -compatible or -translated form of 0.0.0.0 or loopback must not reach the host's own services through the proxy.
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from './harness.js';
import { startDns, startWithEtc, type TestDns } from './network-private-etc.js';

// Each name resolves, through the server's own /etc/hosts, to a form of an address on the host itself.
const FORMS: Record<string, string> = {
  'mapped-zero.example.com': '::ffff:0.0.0.0',
  'mapped-zero-hex.example.com': '::ffff:0:0',
  'mapped-loop-hex.example.com': '::ffff:7f00:1',
  'mapped-loop.example.com': '::ffff:127.0.0.1',
  'compat-loop.example.com': '::127.0.0.1',
  'translated-loop.example.com': '::ffff:0:7f00:1',
  'nat64-loop.example.com': '64:ff9b::127.0.0.1',
  'zero.example.com': '0.0.0.0',
  'plain.example.com': '127.0.0.1',
};
// ...and these through DNS (a test name server), the last one by its resolv.conf search domain.
const DNS_FORMS: Record<string, string> = {
  'dns-mapped-zero.example.com': '::ffff:0.0.0.0',
  'dns-nat64.example.com': '64:ff9b::7f00:1',
  'dns-zero.example.com': '0.0.0.0',
  'intranet.corp.example': '::ffff:0.0.0.7',
};
const ASKED = [...Object.keys(FORMS), ...Object.keys(DNS_FORMS).slice(0, -1), 'intranet'];

let secret: Server;
let port: number;
let h: Harness;
let dns: TestDns;

beforeAll(async () => {
  secret = createServer((s) => s.end('SECRET from a host loopback service\n'));
  await new Promise<void>((r) => secret.listen(0, '127.0.0.1', r));
  port = (secret.address() as AddressInfo).port;
  const hosts =
    '127.0.0.1 localhost\n' +
    Object.entries(FORMS)
      .map(([name, addr]) => `${addr} ${name}`)
      .join('\n') +
    '\n';
  dns = await startDns({
    answers: Object.fromEntries(Object.entries(DNS_FORMS).map(([name, addr]) => [name, [addr]])),
  });
  h = await startWithEtc({ hosts, resolv: `nameserver ${dns.address}\nsearch corp.example\n` });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await dns?.close();
  await new Promise<void>((r) => secret.close(() => r()));
});

describe('allowlist proxy address guard', () => {
  it('refuses every form of the host itself as network_denied, naming the address', async () => {
    const s = await h.sc('create_session', {
      network: 'allowlist',
      allowed_domains: ['*.example.com', 'intranet'],
    });
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: `
import socket, json
out = {}
for host in ${JSON.stringify(ASKED)}:
    c = socket.create_connection(('127.0.0.1', 3128), timeout=10)
    c.sendall(f'CONNECT {host}:${port} HTTP/1.1\\r\\nHost: {host}:${port}\\r\\n\\r\\n'.encode())
    data = b''
    try:
        while b'SECRET' not in data:
            d = c.recv(4096)
            if not d: break
            data += d
    except OSError as e:
        data += repr(e).encode()
    out[host] = data.decode(errors='replace')
print(json.dumps(out))`,
    });
    expect(r.status).toBe('ok');
    const answers = JSON.parse(r.stdout as string) as Record<string, string>;
    const want: Record<string, string> = {
      ...FORMS,
      ...DNS_FORMS,
      intranet: DNS_FORMS['intranet.corp.example']!,
    };
    for (const name of ASKED) {
      const shown = `${name} (${want[name]})`;
      expect(answers[name], shown).not.toContain('SECRET');
      expect(answers[name], shown).toMatch(/^HTTP\/1\.1 403 .*\r\n[^]*X-Sandbox-Error: network_denied/);
      expect(answers[name], shown).toContain(`network_denied: '${name}' resolves to ${want[name]},`);
    }
    const limits = await h.sc('get_sandbox_limitations', { session_id: s.session_id });
    expect(limits.network.recent_denials.map((d: { host: string }) => d.host).sort()).toEqual(
      [...ASKED].sort(),
    );
  });
});
