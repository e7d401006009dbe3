// Concurrency benchmark: 1, 4 and 16 HTTP clients, each in its own session, running small work (80% `x += 1`, 20% a 150×150 numpy matmul); calls/s, p50/p99 and the server's main-thread CPU per call per level, the levels (and an older build, when given) interleaved in short rounds (JSON + table).
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { interleavedRatio, spread, summarize, table, tagged, type Summary } from './stats.js';
import { listeningUrl } from './listening-url.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
// An older build (a copy of its dist/) measured in the same rounds, its own server and clients, for a before/after.
const BEFORE = process.env.BENCH_CONCURRENCY_BEFORE;
/** Seconds each level runs in all, split over ROUNDS rounds in which every level takes its turn. */
const SECONDS = Number(process.env.BENCH_CONCURRENCY_S ?? 12);
const ROUNDS = Number(process.env.BENCH_CONCURRENCY_ROUNDS ?? 6);
// A folder for a V8 CPU profile of the server (node --cpu-prof), written when it exits.
const CPU_PROF = process.env.BENCH_CPU_PROF;
const LEVELS = [1, 4, 16];
const TOKENS = Array.from({ length: Math.max(...LEVELS) }, (_, i) => `bench-token-${i}-${process.pid}`);
const MATMUL = 'import numpy as np\na = np.ones((150, 150))\n_ = a @ a';

async function startServer(dataDir: string, cli = CLI): Promise<{ child: ChildProcess; url: string }> {
  const prof =
    CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval=200', `--cpu-prof-dir=${CPU_PROF}`];
  const child = spawn(
    process.execPath,
    [
      ...prof,
      cli,
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
  /** The server's main thread (its event loop) on the CPU during the turn, in ns. */
  mainNs: number;
  /** CPU time of everything a call needs during the turn: the server and its boxes (all their processes), and these clients; ms. */
  oursMs: number;
  /** Of it: the server process (all its threads), the processes under it (boxes), this process (the clients). */
  split: CpuSplit;
}

interface CpuSplit {
  server: number;
  boxes: number;
  clients: number;
}

/** A process's CPU time so far in ms (utime + stime of /proc/<pid>/stat; 0 once it is gone). */
function processMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return 0;
  }
}

/** pid and every process under it (through /proc/<pid>/task/<tid>/children). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(' ').map(Number));
      } catch {
        // ended meanwhile
      }
    }
  }
  return out;
}

/** CPU time so far of the server process, the processes under it and this process (the clients), ms. */
function cpuSplit(serverPid: number): CpuSplit {
  const me = process.cpuUsage();
  const server = processMs(serverPid);
  const all = tree(serverPid).reduce((a, p) => a + processMs(p), 0);
  return { server, boxes: all - server, clients: (me.user + me.system) / 1000 };
}

/** The main thread's time on the CPU in ns (/proc/<pid>/task/<pid>/schedstat). */
function mainThreadNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** The first n workers call back to back for `seconds`; the calls each made and their latencies. */
async function turn(workers: Worker[], n: number, seconds: number, pid: number): Promise<Turn> {
  const samples: number[] = [];
  const main0 = mainThreadNs(pid);
  const split0 = cpuSplit(pid);
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
  return {
    calls: samples.length,
    ms: performance.now() - t0,
    samples,
    mainNs: mainThreadNs(pid) - main0,
    ...(() => {
      const split1 = cpuSplit(pid);
      const split = {
        server: split1.server - split0.server,
        boxes: split1.boxes - split0.boxes,
        clients: split1.clients - split0.clients,
      };
      return { split, oursMs: split.server + split.boxes + split.clients };
    })(),
  };
}

type LevelResults = Record<
  string,
  {
    calls_per_s: number;
    latency_ms: Summary;
    main_thread_cpu_ms_per_call: number;
    /** CPU per call of the server, its boxes and the clients together. */
    cpu_ms_per_call: number;
    /** Cores they kept busy on average during the level's turns. */
    cores_busy: number;
    /** cpu_ms_per_call split: the server process, its boxes, the clients. */
    cpu_ms_per_call_split: CpuSplit;
  }
>;

export interface ConcurrencyReport {
  seconds_per_level: number;
  rounds: number;
  interleaved: true;
  results: LevelResults;
  /** 4 clients' calls/s over one client's, from all rounds, and the lowest and highest single round. */
  ratios: { four_clients_over_one: number; sixteen_clients_over_one: number };
  four_over_one_per_round: { min: number; max: number; rounds: number[] };
  four_over_one_cpu_ceiling: number;
  targets: { four_clients_at_least_2x_one: boolean };
  /** The older build (BENCH_CONCURRENCY_BEFORE), measured in the same rounds. */
  before?: {
    results: LevelResults;
    ratios: ConcurrencyReport['ratios'];
    four_over_one_per_round: ConcurrencyReport['four_over_one_per_round'];
    four_over_one_cpu_ceiling: number;
  };
}

/** One server under test, its clients and its turns per level. */
interface Side {
  child: ChildProcess;
  workers: Worker[];
  turns: Map<number, Turn[]>;
}

async function startSide(dataDir: string, cli: string): Promise<Side> {
  const { child, url } = await startServer(dataDir, cli);
  const side: Side = { child, workers: [], turns: new Map(LEVELS.map((n) => [n, []])) };
  try {
    for (const token of TOKENS) side.workers.push(await worker(url, token));
  } catch (err) {
    await stopSide(side, false);
    throw err;
  }
  return side;
}

async function stopSide(side: Side, closeSessions: boolean): Promise<void> {
  for (const w of side.workers) {
    if (closeSessions)
      await w.client.callTool({ name: 'close_session', arguments: { session_id: w.session } });
    await w.client.close();
  }
  if (side.child.exitCode !== null) return;
  const exited = new Promise((r) => side.child.once('exit', r));
  side.child.kill('SIGTERM');
  await exited;
}

/** A turn figure summed over turns, per call, to the microsecond. */
function perCall(ts: Turn[], calls: number, f: (t: Turn) => number): number {
  return Math.round((ts.reduce((a, t) => a + f(t), 0) / Math.max(calls, 1)) * 1000) / 1000;
}

/** One side's figures; every ratio is between turns of the same interleaved run. */
function figures(side: Side, run: string) {
  const rate = (ts: Turn[]) =>
    ts.reduce((a, t) => a + t.calls, 0) / (ts.reduce((a, t) => a + t.ms, 0) / 1000);
  const results: LevelResults = {};
  for (const [n, ts] of side.turns) {
    const calls = ts.reduce((a, t) => a + t.calls, 0);
    results[`clients_${n}`] = {
      calls_per_s: Math.round(rate(ts) * 10) / 10,
      latency_ms: summarize(ts.flatMap((t) => t.samples)),
      main_thread_cpu_ms_per_call:
        Math.round((ts.reduce((a, t) => a + t.mainNs, 0) / 1e6 / Math.max(calls, 1)) * 1000) / 1000,
      cpu_ms_per_call: Math.round((ts.reduce((a, t) => a + t.oursMs, 0) / Math.max(calls, 1)) * 1000) / 1000,
      cpu_ms_per_call_split: {
        server: perCall(ts, calls, (t) => t.split.server),
        boxes: perCall(ts, calls, (t) => t.split.boxes),
        clients: perCall(ts, calls, (t) => t.split.clients),
      },
      cores_busy:
        Math.round((ts.reduce((a, t) => a + t.oursMs, 0) / ts.reduce((a, t) => a + t.ms, 0)) * 100) / 100,
    };
  }
  const calls = (n: number) => tagged(rate(side.turns.get(n)!), run);
  const perRound = side.turns
    .get(4)!
    .map((t, r) => interleavedRatio(tagged(rate([t]), run), tagged(rate([side.turns.get(1)![r]!]), run)));
  return {
    results,
    ratios: {
      four_clients_over_one: interleavedRatio(calls(4), calls(1)),
      sixteen_clients_over_one: interleavedRatio(calls(16), calls(1)),
    },
    four_over_one_per_round: { ...spread(perRound), rounds: perRound },
    /**
     * The most 4 clients could get over one if the CPU per call stayed as it is: the machine's cores over the cores
     * one client already keeps busy (its calls need the server, the box and the client in turn).
     */
    four_over_one_cpu_ceiling: Math.round((cpus().length / results.clients_1!.cores_busy) * 100) / 100,
  };
}

export async function runConcurrency(): Promise<ConcurrencyReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-conc-'));
  const sides: Side[] = [];
  const running: Side[] = [];
  const start = async (dir: string, cli: string) => {
    const side = await startSide(join(dataDir, dir), cli);
    sides.push(side);
    running.push(side);
  };
  try {
    await start('now', CLI);
    if (BEFORE !== undefined) {
      const cli = join(resolve(BEFORE), 'src', 'bin', 'sandbox-mcp.js');
      if (!existsSync(cli))
        throw new Error(`BENCH_CONCURRENCY_BEFORE has no src/bin/sandbox-mcp.js: ${BEFORE}`);
      await start('before', cli);
    }
    // warm-up: every session and the server's paths
    for (const side of sides) await turn(side.workers, Math.max(...LEVELS), 1, side.child.pid!);
    // Each round gives every level one turn on each build, in a rotating order, so drift hits all alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < LEVELS.length; k++) {
        const n = LEVELS[(r + k) % LEVELS.length]!;
        for (let j = 0; j < sides.length; j++) {
          const side = sides[(r + j) % sides.length]!;
          side.turns.get(n)!.push(await turn(side.workers, n, SECONDS / ROUNDS, side.child.pid!));
        }
      }
    }
    for (const side of running.splice(0)) await stopSide(side, true);
  } finally {
    for (const side of running) await stopSide(side, false).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const run = `concurrency-${process.pid}-${Date.now()}`;
  const now = figures(sides[0]!, run);
  const before = sides[1] === undefined ? undefined : figures(sides[1], run);
  return {
    seconds_per_level: SECONDS,
    rounds: ROUNDS,
    interleaved: true,
    ...now,
    targets: { four_clients_at_least_2x_one: now.ratios.four_clients_over_one >= 2 },
    ...(before !== undefined && { before }),
  };
}

export function printConcurrency(out: ConcurrencyReport): void {
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'concurrency.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  const builds =
    out.before === undefined
      ? [{ build: 'now', ...out }]
      : [
          { build: 'now', ...out },
          { build: 'before', ...out.before },
        ];
  console.log(
    table(
      builds.flatMap((b) =>
        Object.entries(b.results).map(([k, v]) => ({
          build: b.build,
          level: k,
          calls_per_s: String(v.calls_per_s),
          p50: String(v.latency_ms.p50),
          p99: String(v.latency_ms.p99),
          main_thread_cpu_ms_per_call: String(v.main_thread_cpu_ms_per_call),
          cpu_ms_per_call: String(v.cpu_ms_per_call),
          server_boxes_clients: `${v.cpu_ms_per_call_split.server} / ${v.cpu_ms_per_call_split.boxes} / ${v.cpu_ms_per_call_split.clients}`,
          cores_busy: String(v.cores_busy),
          n: String(v.latency_ms.n),
        })),
      ),
    ),
  );
  console.log(
    table(
      builds.flatMap((b) =>
        Object.entries({
          ...b.ratios,
          four_over_one_lowest_round: b.four_over_one_per_round.min,
          four_over_one_highest_round: b.four_over_one_per_round.max,
          four_over_one_cpu_ceiling: b.four_over_one_cpu_ceiling,
        }).map(([k, v]) => ({ build: b.build, check: k, value: String(v) })),
      ),
    ),
  );
  console.log(table(Object.entries(out.targets).map(([k, v]) => ({ check: k, value: String(v) }))));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  printConcurrency(await runConcurrency());
}
