// Concurrency benchmark: 1, 4 and 16 HTTP clients, each in its own session, running small work (80% `x += 1`, 20% a 150×150 numpy matmul); calls/s and p50/p99 per level, the levels interleaved in short rounds (JSON + table).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { interleavedRatio, spread, summarize, table, tagged, type Summary } from './stats.js';
import { listeningUrl } from './listening-url.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
/** Seconds each level runs in all, split over ROUNDS rounds in which every level takes its turn. */
const SECONDS = Number(process.env.BENCH_CONCURRENCY_S ?? 12);
const ROUNDS = Number(process.env.BENCH_CONCURRENCY_ROUNDS ?? 6);
// A folder for a V8 CPU profile of the server (node --cpu-prof), written when it exits.
const CPU_PROF = process.env.BENCH_CPU_PROF;
const LEVELS = [1, 4, 16];
const TOKENS = Array.from({ length: Math.max(...LEVELS) }, (_, i) => `bench-token-${i}-${process.pid}`);
const MATMUL = 'import numpy as np\na = np.ones((150, 150))\n_ = a @ a';

async function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const prof =
    CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval=200', `--cpu-prof-dir=${CPU_PROF}`];
  const child = spawn(
    process.execPath,
    [
      ...prof,
      CLI,
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--pool-size',
      '2',
      '--token',
      TOKENS.join(','),
    ],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir, SANDBOX_MCP_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const url = await listeningUrl(child);
  return { child, url };
}

interface Worker {
  client: Client;
  session: string;
}

async function worker(url: string, token: string): Promise<Worker> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  const s = (await client.callTool({ name: 'create_session', arguments: { memory_mb: 256 } }))
    .structuredContent as { session_id: string };
  await client.callTool({
    name: 'execute',
    arguments: { code: `x = 0\n${MATMUL}`, session_id: s.session_id },
  });
  return { client, session: s.session_id };
}

interface Turn {
  calls: number;
  ms: number;
  samples: number[];
}

/** The first n workers call back to back for `seconds`; the calls each made and their latencies. */
async function turn(workers: Worker[], n: number, seconds: number): Promise<Turn> {
  const samples: number[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    workers.slice(0, n).map(async (w) => {
      for (let i = 0; performance.now() < end; i++) {
        const code = i % 5 === 4 ? MATMUL : 'x += 1';
        const t = performance.now();
        await w.client.callTool({ name: 'execute', arguments: { code, session_id: w.session } });
        samples.push(performance.now() - t);
      }
    }),
  );
  return { calls: samples.length, ms: performance.now() - t0, samples };
}

export interface ConcurrencyReport {
  seconds_per_level: number;
  rounds: number;
  interleaved: true;
  results: Record<string, { calls_per_s: number; latency_ms: Summary }>;
  /** 4 clients' calls/s over one client's, from all rounds, and the lowest and highest single round. */
  ratios: { four_clients_over_one: number; sixteen_clients_over_one: number };
  four_over_one_per_round: { min: number; max: number; rounds: number[] };
  targets: { four_clients_at_least_2x_one: boolean };
}

export async function runConcurrency(): Promise<ConcurrencyReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-conc-'));
  const { child, url } = await startServer(dataDir);
  const turns = new Map<number, Turn[]>(LEVELS.map((n) => [n, []]));
  const workers: Worker[] = [];
  try {
    for (const token of TOKENS) workers.push(await worker(url, token));
    await turn(workers, Math.max(...LEVELS), 1); // warm-up: every session and the server's paths
    // Each round gives every level one turn, in a rotating order, so drift hits all levels alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < LEVELS.length; k++) {
        const n = LEVELS[(r + k) % LEVELS.length]!;
        turns.get(n)!.push(await turn(workers, n, SECONDS / ROUNDS));
      }
    }
    for (const w of workers) {
      await w.client.callTool({ name: 'close_session', arguments: { session_id: w.session } });
      await w.client.close();
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
  const run = `concurrency-${process.pid}-${Date.now()}`;
  const rate = (ts: Turn[]) =>
    ts.reduce((a, t) => a + t.calls, 0) / (ts.reduce((a, t) => a + t.ms, 0) / 1000);
  const results: ConcurrencyReport['results'] = {};
  for (const [n, ts] of turns) {
    results[`clients_${n}`] = {
      calls_per_s: Math.round(rate(ts) * 10) / 10,
      latency_ms: summarize(ts.flatMap((t) => t.samples)),
    };
  }
  const calls = (n: number) => tagged(rate(turns.get(n)!), run);
  const perRound = turns
    .get(4)!
    .map((t, r) => interleavedRatio(tagged(rate([t]), run), tagged(rate([turns.get(1)![r]!]), run)));
  const four = interleavedRatio(calls(4), calls(1));
  return {
    seconds_per_level: SECONDS,
    rounds: ROUNDS,
    interleaved: true,
    results,
    ratios: { four_clients_over_one: four, sixteen_clients_over_one: interleavedRatio(calls(16), calls(1)) },
    four_over_one_per_round: { ...spread(perRound), rounds: perRound },
    targets: { four_clients_at_least_2x_one: four >= 2 },
  };
}

export function printConcurrency(out: ConcurrencyReport): void {
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'concurrency.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      Object.entries(out.results).map(([k, v]) => ({
        level: k,
        calls_per_s: String(v.calls_per_s),
        p50: String(v.latency_ms.p50),
        p99: String(v.latency_ms.p99),
        n: String(v.latency_ms.n),
      })),
    ),
  );
  console.log(
    table(
      Object.entries({
        ...out.ratios,
        four_over_one_lowest_round: out.four_over_one_per_round.min,
        four_over_one_highest_round: out.four_over_one_per_round.max,
        ...out.targets,
      }).map(([k, v]) => ({ check: k, value: String(v) })),
    ),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  printConcurrency(await runConcurrency());
}
