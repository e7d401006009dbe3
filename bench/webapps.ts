// Web-app benchmark: time from start_web_app to the first HTTP 200 (Flask, FastAPI), and the relay's throughput and
// added latency against a direct connection inside the box (the same Python client both ways). Prints JSON and a
// table and writes .bench/webapps.json; it only ever talks to loopback and its own temp data dir.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { summarize, table, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const FLASK = `from flask import Flask
app = Flask(__name__)
@app.route('/')
def index():
    return 'ok'
`;

const FASTAPI = `from fastapi import FastAPI, Response
api = FastAPI()
BIG = b'x' * (${BIG_MB} * 1024 * 1024)
@api.get('/')
def index():
    return 'ok'
@api.get('/big')
def big():
    return Response(BIG, media_type='application/octet-stream')
`;

// One client for both sides, so the difference is the relay: new connection per request, keep-alive, one big body.
const CLIENT_PY = `
import http.client, json, time
def measure(host, port, base, n, big_runs):
    def small(keep):
        out, conn = [], http.client.HTTPConnection(host, port) if keep else None
        for _ in range(n):
            t = time.perf_counter()
            c = conn or http.client.HTTPConnection(host, port)
            c.request('GET', base)
            c.getresponse().read()
            if not keep:
                c.close()
            out.append((time.perf_counter() - t) * 1000)
        if conn:
            conn.close()
        return out
    mbs = []
    for _ in range(big_runs):
        c = http.client.HTTPConnection(host, port)
        t = time.perf_counter()
        c.request('GET', base + 'big')
        r = c.getresponse()
        got = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        mbs.append(got / (1 << 20) / (time.perf_counter() - t))
        c.close()
    return {'new_conn_ms': small(False), 'keepalive_ms': small(True), 'big_mb_s': mbs}
`;

type Measured = { new_conn_ms: number[]; keepalive_ms: number[]; big_mb_s: number[] };

/** MB/s of GET /big read as a stream by Node's http client (what a browser-like client sees). */
function nodeGetMbs(url: URL): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    let got = 0;
    http
      .get(new URL('big', url), (r) => {
        r.on('data', (d: Buffer) => (got += d.length));
        r.on('end', () => res(got / 2 ** 20 / ((performance.now() - t) / 1000)));
      })
      .on('error', rej);
  });
}

async function measureBoth(
  call: Call,
  app: Record<string, unknown>,
): Promise<{ inBox: Measured; relayed: Measured; node: number[] }> {
  const url = new URL(String(app.url));
  const direct = await call('execute', {
    code: `${CLIENT_PY}\nimport json\nprint(json.dumps(measure('127.0.0.1', ${Number(app.box_port)}, '/', ${REQUESTS}, ${RUNS})))`,
    timeout: 600,
  });
  if (direct.status !== 'ok') throw new Error(`in-box client: ${String(direct.stderr)}`);
  const host = spawnSync(
    '/usr/bin/python3',
    [
      '-I',
      '-c',
      `${CLIENT_PY}\nimport json\nprint(json.dumps(measure(${JSON.stringify(url.hostname)}, ${url.port}, ${JSON.stringify(url.pathname)}, ${REQUESTS}, ${RUNS})))`,
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (host.status !== 0) throw new Error(`host client: ${host.stderr}`);
  const node: number[] = [];
  for (let i = 0; i < RUNS; i++) node.push(await nodeGetMbs(url));
  return {
    inBox: JSON.parse(String(direct.stdout)) as Measured,
    relayed: JSON.parse(host.stdout) as Measured,
    node,
  };
}

interface Call {
  (name: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
}

async function timeToFirst200(call: Call, code: string, type: string): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    const r = await call('start_web_app', { code, app_type: type });
    const res = await fetch(String(r.url));
    await res.text();
    if (res.status !== 200) throw new Error(`${type}: HTTP ${res.status}`);
    samples.push(performance.now() - t0);
    await call('stop_web_app', { app_id: r.app_id });
  }
  return summarize(samples);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-webapps-'));
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, '--data-dir', dataDir, '--pool-size', '1'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        SANDBOX_MCP_LOG_LEVEL: 'error',
      },
      stderr: 'inherit',
    }),
  );
  const call: Call = async (name, args) => {
    const r = await client.callTool({ name, arguments: args });
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.structuredContent)}`);
    return r.structuredContent as Record<string, unknown>;
  };
  try {
    await call('execute', { code: '1' }); // the session's box is up before anything is timed
    const flask = await timeToFirst200(call, FLASK, 'flask');
    const fastapi = await timeToFirst200(call, FASTAPI, 'fastapi');

    const app = await call('start_web_app', { code: FASTAPI, app_type: 'fastapi', ready_timeout_s: 60 });
    const { inBox, relayed, node: nodeMbs } = await measureBoth(call, app);
    await call('stop_web_app', { app_id: app.app_id });
    // The same through a lighter server (http.server on a file), so the relay rather than uvicorn sets the pace.
    await call('execute', {
      code: `import os\nos.makedirs('site', exist_ok=True)\nopen('site/index.html', 'w').write('ok')\nopen('site/big', 'wb').write(b'x' * (${BIG_MB} << 20))`,
    });
    const st = await call('start_web_app', { app_type: 'static', directory: 'site' });
    const stat = await measureBoth(call, st);
    await call('stop_web_app', { app_id: st.app_id });

    const d = { new_conn: summarize(inBox.new_conn_ms), keepalive: summarize(inBox.keepalive_ms) };
    const r = { new_conn: summarize(relayed.new_conn_ms), keepalive: summarize(relayed.keepalive_ms) };
    const round = (v: number) => Math.round(v * 10) / 10;
    const out = {
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
      start_to_first_200_ms: { flask, fastapi },
      latency_ms: {
        direct_in_box: d,
        through_relay: r,
        added_p50_new_connection: round(r.new_conn.p50 - d.new_conn.p50),
        added_p50_keepalive: round(r.keepalive.p50 - d.keepalive.p50),
      },
      throughput_mb_s: {
        body_mb: BIG_MB,
        fastapi: {
          direct_in_box_python: round(median(inBox.big_mb_s)),
          through_relay_python: round(median(relayed.big_mb_s)),
          through_relay_node: round(median(nodeMbs)),
        },
        static_http_server: {
          direct_in_box_python: round(median(stat.inBox.big_mb_s)),
          through_relay_python: round(median(stat.relayed.big_mb_s)),
          through_relay_node: round(median(stat.node)),
        },
      },
    };
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench', 'webapps.json'), JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
    console.log(
      '\n' +
        table([
          {
            measure: 'start_web_app → first 200, Flask (p50 / p95 ms)',
            value: `${flask.p50} / ${flask.p95}`,
          },
          {
            measure: 'start_web_app → first 200, FastAPI (p50 / p95 ms)',
            value: `${fastapi.p50} / ${fastapi.p95}`,
          },
          { measure: 'small GET, new connection, direct in box p50 ms', value: d.new_conn.p50 },
          { measure: 'small GET, new connection, through relay p50 ms', value: r.new_conn.p50 },
          { measure: 'small GET, keep-alive, direct in box p50 ms', value: d.keepalive.p50 },
          { measure: 'small GET, keep-alive, through relay p50 ms', value: r.keepalive.p50 },
          ...(['fastapi', 'static_http_server'] as const).flatMap((k) => {
            const t = out.throughput_mb_s[k];
            return [
              {
                measure: `${BIG_MB} MB body, ${k}, direct in box (Python) MB/s`,
                value: t.direct_in_box_python,
              },
              {
                measure: `${BIG_MB} MB body, ${k}, through relay (Python) MB/s`,
                value: t.through_relay_python,
              },
              {
                measure: `${BIG_MB} MB body, ${k}, through relay (Node http) MB/s`,
                value: t.through_relay_node,
              },
            ];
          }),
        ]),
    );
  } finally {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
