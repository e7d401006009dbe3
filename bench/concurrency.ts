// Concurrency benchmark: 1, 4 and 16 HTTP clients, each in its own session, running small work (80% `x += 1`, 20% a 150×150 numpy matmul); calls/s and p50/p99 per level, in one run (JSON + table).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { summarize, table, type Summary } from './stats.js';
import { listeningUrl } from './listening-url.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const SECONDS = Number(process.env.BENCH_CONCURRENCY_S ?? 10);
const LEVELS = [1, 4, 16];
const TOKENS = Array.from({ length: Math.max(...LEVELS) }, (_, i) => `bench-token-${i}-${process.pid}`);
const MATMUL = 'import numpy as np\na = np.ones((150, 150))\n_ = a @ a';

async function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--pool-size', '2', '--token', TOKENS.join(',')],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir, SANDBOX_MCP_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const url = await listeningUrl(child);
  return { child, url };
}

async function client(url: string, token: string): Promise<Client> {
  const c = new Client({ name: 'bench', version: '1' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return c;
}

async function level(url: string, n: number): Promise<{ calls_per_s: number; latency_ms: Summary }> {
  const clients = await Promise.all(TOKENS.slice(0, n).map((t) => client(url, t)));
  const sessions: string[] = [];
  for (const c of clients) {
    const s = (await c.callTool({ name: 'create_session', arguments: { memory_mb: 256 } }))
      .structuredContent as {
      session_id: string;
    };
    sessions.push(s.session_id);
    await c.callTool({ name: 'execute', arguments: { code: `x = 0\n${MATMUL}`, session_id: s.session_id } });
  }
  const samples: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    clients.map(async (c, k) => {
      for (let i = 0; performance.now() < end; i++) {
        const code = i % 5 === 4 ? MATMUL : 'x += 1';
        const t = performance.now();
        await c.callTool({ name: 'execute', arguments: { code, session_id: sessions[k] } });
        samples.push(performance.now() - t);
      }
    }),
  );
  for (const [k, c] of clients.entries()) {
    await c.callTool({ name: 'close_session', arguments: { session_id: sessions[k] } });
    await c.close();
  }
  return { calls_per_s: Math.round((samples.length / SECONDS) * 10) / 10, latency_ms: summarize(samples) };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-conc-'));
  const { child, url } = await startServer(dataDir);
  const results: Record<string, { calls_per_s: number; latency_ms: Summary }> = {};
  try {
    for (const n of LEVELS) results[`clients_${n}`] = await level(url, n);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
  const one = results.clients_1?.calls_per_s ?? 0;
  const four = results.clients_4?.calls_per_s ?? 0;
  const out = {
    seconds_per_level: SECONDS,
    results,
    ratios: { four_clients_over_one: Math.round((four / one) * 100) / 100 },
    targets: { four_clients_at_least_2x_one: four >= 2 * one },
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'concurrency.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      Object.entries(results).map(([k, v]) => ({
        level: k,
        calls_per_s: String(v.calls_per_s),
        p50: String(v.latency_ms.p50),
        p99: String(v.latency_ms.p99),
        n: String(v.latency_ms.n),
      })),
    ),
  );
}

await main();
