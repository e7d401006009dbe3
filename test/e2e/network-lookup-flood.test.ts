// Attack: one session floods its proxy with names whose DNS never answers; other sessions' proxied names and the server's other work must not wait for them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from './harness.js';
import { startDns, startWithEtc, type TestDns } from './network-private-etc.js';

let dns: TestDns;
let h: Harness;

beforeAll(async () => {
  dns = await startDns({ silent: () => true });
  // b.example.org is answered by /etc/hosts (with a loopback address, so the proxy's answer names it); every other
  // name goes to the silent server, which keeps each lookup waiting for the resolver's own timeout.
  h = await startWithEtc({
    hosts: '127.0.0.1 localhost\n127.0.0.1 b.example.org\n',
    resolv: `nameserver ${dns.address}\noptions timeout:5 attempts:2\n`,
  });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await dns?.close();
});

/** Python that sends one CONNECT through the box's proxy and prints the seconds until its answer, then the answer. */
const probe = (host: string, wait = 40) => `
import socket, time
t = time.time()
c = socket.create_connection(('127.0.0.1', 3128), timeout=${wait})
c.sendall(b'CONNECT ${host}:443 HTTP/1.1\\r\\n\\r\\n')
data = b''
try:
    while True:
        d = c.recv(4096)
        if not d: break
        data += d
except OSError as e:
    data += repr(e).encode()
print('%.2f' % (time.time() - t))
print(data.decode(errors='replace'))`;

async function timedProbe(session: string, host: string): Promise<{ seconds: number; answer: string }> {
  const r = await h.sc('execute', { session_id: session, code: probe(host) });
  expect(r.status).toBe('ok');
  const [first, ...rest] = (r.stdout as string).split('\n');
  return { seconds: Number(first), answer: rest.join('\n') };
}

async function elapsed(f: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await f();
  return Date.now() - t;
}

describe('name lookups under a flood of never-answered names', () => {
  it("keeps other sessions' lookups and the server's work moving, and answers the flood with 504", async () => {
    const a = (
      await h.sc('create_session', { network: 'allowlist', allowed_domains: ['*.slow.example.com'] })
    ).session_id as string;
    const b = (await h.sc('create_session', { network: 'allowlist', allowed_domains: ['b.example.org'] }))
      .session_id as string;
    const c = (await h.sc('create_session', {})).session_id as string;
    // The server's own work in another session (a run, a file read, a backup's copies) must not wait on the lookups
    // either; libuv keeps part of its pool from slow work, so this is a guard on the event loop more than the pool.
    const work = async () => {
      await h.sc('execute', { session_id: c, code: 'open("f.txt", "w").write("x" * 1000); print(1)' });
      expect((await h.sc('read_file', { session_id: c, path: 'f.txt' })).size).toBe(1000);
      expect((await h.sc('backup_current_artifacts', { session_id: c })).name).toEqual(expect.any(String));
    };

    const before = await timedProbe(b, 'b.example.org');
    expect(before.answer).toMatch(/^HTTP\/1\.1 403 [^]*'b\.example\.org' resolves to 127\.0\.0\.1/);
    const baseline = await elapsed(work);

    // 16 names at once from session A, each waiting on the silent server; the execute leaves them running.
    const flood = await h.sc('execute', {
      session_id: a,
      code: `
import socket, threading, time
def one(i):
    try:
        c = socket.create_connection(('127.0.0.1', 3128), timeout=200)
        c.sendall(f'CONNECT n{i}.slow.example.com:443 HTTP/1.1\\r\\n\\r\\n'.encode())
        c.recv(100)
    except Exception:
        pass
for i in range(16):
    threading.Thread(target=one, args=(i,), daemon=True).start()
time.sleep(1)
print('queued')`,
    });
    expect(flood.stdout).toBe('queued\n');
    expect(dns.queries()).toBeGreaterThan(0);

    const [during, duringWork] = await Promise.all([timedProbe(b, 'b.example.org'), elapsed(work)]);
    expect(during.answer).toMatch(/^HTTP\/1\.1 403 [^]*'b\.example\.org' resolves to 127\.0\.0\.1/);
    expect(during.seconds).toBeLessThan(3);
    expect(duringWork).toBeLessThan(baseline + 3000);

    // A's own lookups end with a clear answer once their time is up, queued ones included.
    const own = await timedProbe(a, 'late.slow.example.com');
    expect(own.answer).toMatch(
      /^HTTP\/1\.1 504 [^]*X-Sandbox-Error: timeout[^]*'late\.slow\.example\.com' could not be resolved: no answer within [\d.]+ s \(ETIMEOUT\)/,
    );
    expect(own.seconds).toBeLessThan(15);
  }, 180_000);
});
