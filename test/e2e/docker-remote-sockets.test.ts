// End-to-end: web apps and the allowlist proxy on a Docker engine reached over tcp:// (one that shares none of these
// files, so no socket is bind-mounted): apps answer the host through exec streams, installs reach a loopback index
// through the proxy tunnel, a smoke test of an app that never answers ends at its deadline, and garbage that code in the
// box writes into its tunnel ends only that tunnel.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, loopbackTcpEngine, prepareBoxImage } from './docker-engine.js';
import { buildLocalWheel } from './local-wheel.js';
import { until } from './until.js';

const { engine, skip } = engineForFile('docker-remote-sockets');
const env = engineEnv(engine);

const FLASK = `import hashlib, time
from flask import Flask, Response, request
app = Flask(__name__)

@app.route('/')
def index():
    return 'hello from the box'

@app.route('/slow/<int:n>')
def slow(n):
    time.sleep(0.3)
    return f'slow {n}'

@app.route('/echo', methods=['POST'])
def echo():
    data = request.get_data()
    return {'len': len(data), 'sha256': hashlib.sha256(data).hexdigest()}

@app.route('/big/<int:n>')
def big(n):
    return Response(b'0123456789abcdef' * (n // 16), mimetype='application/octet-stream')
`;

const TUNNELS = `
import os, signal, time
def tunnels():
    found = set()
    for p in os.listdir('/proc'):
        try:
            if p.isdigit() and b'tunnel_mux.py' in open(f'/proc/{p}/cmdline', 'rb').read():
                found.add(int(p))
        except OSError:
            pass
    return found
`;

/** Python that lists the box's proxy tunnel processes. */
const listCode = `${TUNNELS}\nsorted(tunnels())`;

/** Python that tries to open each settled tunnel's pipe to the server, and compares its seccomp filters to its own. */
const openCode = `${TUNNELS}
def filters(pid):
    return [l for l in open(f'/proc/{pid}/status') if l.startswith('Seccomp_filters')]
res = []
for pid in sorted(tunnels()):
    try:
        os.close(os.open(f'/proc/{pid}/fd/1', os.O_WRONLY)); res.append('opened')
    except PermissionError:
        res.append('refused')
    res.append(filters(pid) == filters('self'))
res`;

/**
 * Python that kills the box's proxy tunnel and catches the next one while it starts, before it guards its /proc
 * entries, then writes garbage into its pipe to the server; answers the caught pid. One that was quicker is killed too.
 */
const catchCode = (garbage: Buffer) => `${TUNNELS}
seen = tunnels()
for pid in seen:
    os.kill(pid, signal.SIGKILL)
caught = None
deadline = time.monotonic() + 30
while caught is None and time.monotonic() < deadline:
    for pid in tunnels() - seen:
        try:
            fd = os.open(f'/proc/{pid}/fd/1', os.O_WRONLY)
        except OSError:
            seen.add(pid)
            os.kill(pid, signal.SIGKILL)
            continue
        os.write(fd, bytes.fromhex('${garbage.toString('hex')}'))
        os.close(fd)
        caught = pid
        break
caught`;

/** Fetches a URL through the session's proxy (NO_PROXY dropped: *.localhost stands in for a real domain). */
const fetchCode = (url: string) => `
import os, urllib.request
os.environ.pop('no_proxy', None); os.environ.pop('NO_PROXY', None)
try:
    with urllib.request.urlopen(${JSON.stringify(url)}, timeout=10) as r:
        print(r.status, r.read().decode())
except Exception as e:
    print('ERR', type(e).__name__, e)
`;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(skip !== null)('web apps and the allowlist proxy on a tcp:// engine', () => {
  let tcp: { host: string; close: () => void };
  let index: HttpServer;
  let indexPort = 0;
  let h: Harness;
  let work: string;
  const hits: string[] = [];

  beforeAll(async () => {
    prepareBoxImage(CLI, env);
    work = mkdtempSync(join(tmpdir(), 'sbx-remote-sockets-'));
    const wheel = buildLocalWheel(work, 'sbx_tunnel_pkg');
    index = createHttpServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/simple/sbx-tunnel-pkg/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><body><a href="/files/${wheel.name}">${wheel.name}</a></body></html>`);
      } else if (req.url === '/simple/sbx-elsewhere/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          `<html><body><a href="http://files.localhost:${indexPort}/files/sbx_elsewhere-1.0-py3-none-any.whl">x</a></body></html>`,
        );
      } else if (req.url === `/files/${wheel.name}`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(wheel.bytes);
      } else if (req.url === '/hello') {
        res.end(`hello ${req.headers.host}`);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => index.listen(0, '127.0.0.1', r));
    indexPort = (index.address() as AddressInfo).port;
    tcp = await loopbackTcpEngine(engine);
    h = await startStdio({
      args: ['--isolation', 'docker', '--memory-mb', '512', '--pool-size', '0'],
      env: {
        ...env,
        DOCKER_HOST: tcp.host,
        PIP_CONFIG_FILE: '/dev/null',
        PIP_INDEX_URL: `http://127.0.0.1:${indexPort}/simple`,
      },
    });
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
    tcp?.close();
    await new Promise<void>((r) => (index ? index.close(() => r()) : r()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('serves a Flask app to the host through exec streams: concurrent requests, large bodies both ways', async () => {
    const app = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    expect(app.status, JSON.stringify(app).slice(0, 2000)).toBe('running');
    expect(app.http_status).toBe(200);
    const res = await fetch(app.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello from the box');

    const many = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const r = await fetch(`${app.url}slow/${i}`);
        return `${r.status} ${await r.text()}`;
      }),
    );
    expect(many).toEqual(Array.from({ length: 12 }, (_, i) => `200 slow ${i}`));

    const up = randomBytes(8 << 20);
    const echoed = await fetch(`${app.url}echo`, { method: 'POST', body: up });
    expect(echoed.status).toBe(200);
    expect(await echoed.json()).toEqual({ len: up.length, sha256: sha(up) });

    const big = await fetch(`${app.url}big/${8 << 20}`);
    expect(big.status).toBe(200);
    const down = Buffer.from(await big.arrayBuffer());
    expect(down.length).toBe(8 << 20);
    expect(sha(down)).toBe(sha(Buffer.from('0123456789abcdef'.repeat((8 << 20) / 16))));
    await h.sc('stop_web_app', { app_id: app.app_id });
  }, 180_000);

  it('exports an app whose smoke test reaches it in a fresh box through the engine', async () => {
    const r = await h.sc('export_web_app', { code: FLASK, app_type: 'flask', export_name: 'remote_flask' });
    expect(r.smoke_test, JSON.stringify(r.smoke_test)).toMatchObject({ passed: true, http_status: 200 });
  }, 180_000);

  it('ends the smoke test of an app that accepts and never answers at its deadline', async () => {
    const mute = `import asyncio
from fastapi import FastAPI
app = FastAPI()

@app.get('/')
async def index():
    await asyncio.sleep(10**6)
`;
    const t0 = Date.now();
    const r = await h.sc('export_web_app', { code: mute, app_type: 'fastapi', export_name: 'remote_mute' });
    expect(r.smoke_test, JSON.stringify(r.smoke_test)).toMatchObject({ passed: false });
    expect(r.smoke_test.note).toMatch(/did not answer HTTP within 30 s/);
    expect(Date.now() - t0).toBeLessThan(75_000);
  }, 180_000);

  it('installs through the allowlist proxy from a loopback index, and refuses a host off the allowlist', async () => {
    const r = await h.sc('install_package', { package: 'sbx_tunnel_pkg' });
    expect(r.allowed_hosts).toEqual(['127.0.0.1']);
    expect(r.installed?.version, JSON.stringify(r).slice(0, 3000)).toBe('0.1.0');
    expect(hits.some((u) => u.startsWith('/files/sbx_tunnel_pkg'))).toBe(true);
    const run = await h.sc('execute', { code: 'import sbx_tunnel_pkg\nsbx_tunnel_pkg.VALUE' });
    expect(run.result['text/plain']).toBe('42');

    const denied = errorOf(await h.call('install_package', { package: 'sbx-elsewhere' }));
    expect(denied.code).toBe('network_denied');
    expect(denied.details.denials[0]).toMatchObject({ host: 'files.localhost', port: indexPort });
  }, 180_000);

  it('ends a tunnel the box writes garbage frames into: the server stays up, apps keep working', async () => {
    const s = (await h.sc('create_session', { network: 'allowlist', allowed_domains: ['allowed.localhost'] }))
      .session_id as string;
    const other = (await h.sc('create_session', {})).session_id as string;
    const apps = [
      await h.sc('start_web_app', { session_id: s, code: FLASK, app_type: 'flask' }),
      await h.sc('start_web_app', { session_id: other, code: FLASK, app_type: 'flask' }),
    ];
    for (const app of apps) expect(app.status, JSON.stringify(app).slice(0, 2000)).toBe('running');
    const hello = `200 hello allowed.localhost:${indexPort}`;
    const viaProxy = async () =>
      (
        await h.sc('execute', {
          session_id: s,
          code: fetchCode(`http://allowed.localhost:${indexPort}/hello`),
        })
      ).stdout as string;
    expect((await viaProxy()).trim()).toBe(hello);

    const unknownKind = Buffer.concat([Buffer.from([7, 0, 0, 0, 1, 0, 0, 0, 4]), Buffer.from('junk')]);
    const oversized = Buffer.from([2, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
    const forgedOpen = Buffer.from([1, 0, 0, 0, 99, 0, 0, 0, 0]);
    // a settled tunnel's pipes are out of reach of code in the box
    expect((await h.sc('execute', { session_id: s, code: openCode })).result['text/plain']).toBe(
      "['refused', True]",
    );
    for (const garbage of [unknownKind, oversized, forgedOpen]) {
      const caught = (await h.sc('execute', { session_id: s, code: catchCode(garbage), timeout: 45 })).result[
        'text/plain'
      ] as string;
      expect(caught).toMatch(/^\d+$/);
      // the broken tunnel is ended (its process sees its input close and exits) and a new one listens in its place
      await until(
        async () => {
          const now = (await h.sc('execute', { session_id: s, code: listCode })).result[
            'text/plain'
          ] as string;
          return /^\[\d+\]$/.test(now) && !(JSON.parse(now) as number[]).includes(Number(caught))
            ? now
            : null;
        },
        'a new proxy tunnel, the broken one gone',
        30_000,
        300,
      );
      expect((await h.sc('execute', { code: '6 * 7' })).result['text/plain']).toBe('42');
      for (const app of apps) {
        const r = await fetch(app.url);
        expect(r.status).toBe(200);
        expect(await r.text()).toBe('hello from the box');
      }
      expect((await viaProxy()).trim()).toBe(hello);
    }
    const refused = (
      await h.sc('execute', { session_id: s, code: fetchCode(`http://other.localhost:${indexPort}/hello`) })
    ).stdout as string;
    expect(refused).toMatch(/^ERR HTTPError .*403/);
  }, 240_000);

  it('starts the proxy tunnel again after a timed-out cell swept every process of the box', async () => {
    const s = (await h.sc('create_session', { network: 'allowlist', allowed_domains: ['allowed.localhost'] }))
      .session_id as string;
    const code = fetchCode(`http://allowed.localhost:${indexPort}/hello`);
    const hello = `200 hello allowed.localhost:${indexPort}`;
    const before = (await h.sc('execute', { session_id: s, code: listCode })).result['text/plain'];
    expect(before).toMatch(/^\[\d+\]$/);
    const slept = await h.call('execute', { session_id: s, code: 'import time\ntime.sleep(60)', timeout: 2 });
    expect(errorOf(slept).code).toBe('timeout');
    await until(
      async () => ((await h.sc('execute', { session_id: s, code })).stdout as string).trim() === hello,
      'the proxy through a new tunnel',
      30_000,
      300,
    );
    const after = (await h.sc('execute', { session_id: s, code: listCode })).result['text/plain'];
    expect(after).toMatch(/^\[\d+\]$/);
    expect(after).not.toBe(before);
  }, 180_000);
});
