// Unit tests for the proxy's name lookups: the per-proxy cap and deadline, the 504 a slow name gets, and the hosts file read again when it changes.
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDomainRules } from '../../src/network/domains.js';
import { parseHosts, parseResolvSearch, searchNames, WatchedFile } from '../../src/network/etc-files.js';
import { gatedLookup } from '../../src/network/lookup-gate.js';
import { AllowlistProxy } from '../../src/network/proxy.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookups-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const never = () => new Promise<string[]>(() => {});
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (e: { code?: string }) => e.code ?? 'no code',
  );

describe('gated lookups', () => {
  it('runs at most `limit` lookups at once; the others wait their turn', async () => {
    let running = 0;
    let most = 0;
    const slow = async (host: string) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return [`198.51.100.${host.length}`];
    };
    const gated = gatedLookup(slow, 3, 5000);
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => gated('h'.repeat(i + 1))));
    expect(all.map((a) => a[0])).toEqual(Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`));
    expect(most).toBe(3);
  });

  it('answers ETIMEOUT in time, for running and for queued lookups, and keeps the slots of unsettled ones', async () => {
    let calls = 0;
    const gated = gatedLookup(
      () => {
        calls++;
        return never();
      },
      2,
      150,
    );
    const t = Date.now();
    const codes = await Promise.all(Array.from({ length: 5 }, () => codeOf(gated('x.test'))));
    expect(codes).toEqual(Array(5).fill('ETIMEOUT'));
    expect(Date.now() - t).toBeLessThan(1000);
    // the two that never settled still hold their slots: a later lookup waits, and times out without running
    expect(await codeOf(gated('y.test'))).toBe('ETIMEOUT');
    expect(calls).toBe(2);
  });

  it('passes failures through unchanged', async () => {
    const gated = gatedLookup(
      async () => Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' })),
      1,
      1000,
    );
    expect(await codeOf(gated('gone.test'))).toBe('ENOTFOUND');
  });
});

describe('a proxy whose names never answer', () => {
  it('answers CONNECT and http with 504 and X-Sandbox-Error: timeout, while another proxy answers at once', async () => {
    const slow = AllowlistProxy.start({
      socketPath: join(dir, 'slow.sock'),
      rules: parseDomainRules(['*.slow.test']),
      lookup: never,
      lookupTimeoutMs: 300,
    });
    const other = AllowlistProxy.start({
      socketPath: join(dir, 'other.sock'),
      rules: parseDomainRules(['fast.test']),
      lookup: async () => ['127.0.0.1'],
    });
    try {
      const raw = (sock: string, authority: string) =>
        new Promise<string>((resolve, reject) => {
          const s = connect(sock);
          let data = '';
          s.setEncoding('utf8');
          s.on('data', (c: string) => (data += c));
          s.on('end', () => resolve(data));
          s.on('error', reject);
          s.write(`CONNECT ${authority} HTTP/1.1\r\n\r\n`);
        });
      const flood = Array.from({ length: 32 }, (_, i) => raw(slow.socketPath, `n${i}.slow.test:443`));
      const t = Date.now();
      const fast = await raw(other.socketPath, 'fast.test:443');
      expect(Date.now() - t).toBeLessThan(200);
      expect(fast).toMatch(/^HTTP\/1\.1 403 [^]*'fast\.test' resolves to 127\.0\.0\.1/);
      for (const answer of await Promise.all(flood)) {
        expect(answer).toMatch(
          /^HTTP\/1\.1 504 Gateway Timeout\r\n[^]*X-Sandbox-Error: timeout\r\n[^]*'n\d+\.slow\.test' could not be resolved: no answer within 0\.3 s \(ETIMEOUT\)\n$/,
        );
      }
      const http = await new Promise<{ status: number; error: unknown; body: string }>((resolve, reject) => {
        const req = request({ socketPath: slow.socketPath, path: 'http://page.slow.test/' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, error: res.headers['x-sandbox-error'], body }),
          );
        });
        req.on('error', reject);
        req.end();
      });
      expect(http).toMatchObject({ status: 504, error: 'timeout' });
      expect(http.body).toMatch(/^'page\.slow\.test' could not be resolved: no answer within/);
    } finally {
      await slow.close();
      await other.close();
    }
  });
});

describe('the hosts file', () => {
  it('parses addresses of every family, aliases, comments and case as the C library does', () => {
    const t = parseHosts(
      '# comment\n127.0.0.1 localhost\n::ffff:0.0.0.0 Mapped.Example.com alias. # trailing\n' +
        '10.0.0.1 two.example\n10.0.0.2 two.example\nnot-an-ip bad.example\n\n',
    );
    expect(t.get('mapped.example.com')).toEqual(['::ffff:0.0.0.0']);
    expect(t.get('alias')).toEqual(['::ffff:0.0.0.0']);
    expect(t.get('two.example')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(t.has('bad.example')).toBe(false);
    expect(t.has('comment')).toBe(false);
  });

  it('is read again when it changes, and reads as empty when missing', () => {
    const path = join(dir, 'hosts');
    const file = new WatchedFile(path, parseHosts, 0);
    expect(file.current().size).toBe(0);
    writeFileSync(path, '10.0.0.1 a.example\n');
    expect(file.current().get('a.example')).toEqual(['10.0.0.1']);
    writeFileSync(path, '10.0.0.2 a.example b.example\n');
    expect(file.current().get('a.example')).toEqual(['10.0.0.2']);
    expect(file.changes).toBe(3);
    // unchanged: not parsed again
    file.current();
    expect(file.changes).toBe(3);
  });
});

describe('resolv.conf search domains', () => {
  it('takes the last search or domain line and ndots, as the C library does', () => {
    const conf = parseResolvSearch(
      'nameserver 10.0.0.1\ndomain old.example\nsearch Corp.Example. lab.example # here\noptions timeout:5 ndots:2\n',
    );
    expect(conf).toEqual({ search: ['corp.example', 'lab.example'], ndots: 2 });
    expect(parseResolvSearch('')).toEqual({ search: [], ndots: 1 });
  });

  it('tries names with enough dots as they are first, shorter ones with the search domains first', () => {
    const conf = { search: ['corp.example'], ndots: 1 };
    expect(searchNames('pypi.org', conf)).toEqual(['pypi.org', 'pypi.org.corp.example']);
    expect(searchNames('intranet', conf)).toEqual(['intranet.corp.example', 'intranet']);
    expect(searchNames('a.b', { search: [], ndots: 1 })).toEqual(['a.b']);
  });
});
