// The event loop's longest stall while a box closes (what closing a session does: the agent stops, every process of
// its cgroup is killed and waited for, the cgroup removed), in-process, with a box that did some work (pandas loaded,
// 512 MB of data held, a child process running), a polite close (the agent answers the stop) and a forced one (the
// box is killed first, as one that does not answer in time is); an older build's Box (BENCH_CLOSE_BEFORE=<old dist>)
// in the same rotating rounds for a before/after (JSON + table, .bench/close-stall.json).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { summarize, table, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.BENCH_N ?? 10);
const BEFORE = process.env.BENCH_CLOSE_BEFORE ? resolve(process.env.BENCH_CLOSE_BEFORE) : undefined;
// A session's usual state: a library loaded, data held, a process it started still running.
const WORK =
  "import pandas, subprocess\nheld = b'\\x01' * (512 << 20)\n" +
  "child = subprocess.Popen(['sleep', '600'])\nprint(pandas.__version__)";

interface BoxLike {
  request(req: Record<string, unknown>): { done: Promise<unknown> };
  kill(): void;
  close(): Promise<void>;
}
/** polite: the agent answers the stop; forced: it is killed first, as a box that does not answer in time is. */
type How = 'polite' | 'forced';
interface BoxModule {
  Box: { start(opts: Record<string, unknown>): Promise<BoxLike> };
}

async function loadBox(dist: string): Promise<{ Box: BoxModule['Box']; agentDir: string }> {
  const { Box } = (await import(join(dist, 'src', 'sandbox', 'box.js'))) as BoxModule;
  const { AGENT_DIR } = (await import(join(dist, 'src', 'sandbox', 'box-options.js'))) as {
    AGENT_DIR: string;
  };
  return { Box, agentDir: AGENT_DIR };
}

interface Sample {
  stall: number;
  close: number;
}

/** Starts a box, gives it WORK, then times its close and the longest gap between 1 ms ticks meanwhile. */
async function closeOnce(
  side: Awaited<ReturnType<typeof loadBox>>,
  how: How,
  dir: string,
  name: string,
): Promise<Sample> {
  const ws = join(dir, name, 'workspace');
  const mpl = join(dir, name, 'mpl');
  mkdirSync(ws, { recursive: true });
  mkdirSync(mpl, { recursive: true });
  const box = await side.Box.start({
    name,
    workspace: ws,
    mplConfigDir: mpl,
    agentDir: side.agentDir,
    isolation: 'bwrap',
    bwrapPath: '/usr/bin/bwrap',
    python: '/usr/bin/python3',
    limits: { memoryBytes: 2 * 1024 ** 3, pids: 256, fileSizeBytes: 1 << 30, openFiles: 1024 },
  });
  await box.request({
    op: 'execute',
    code: WORK,
    timeout_ms: 120_000,
    grace_ms: 2000,
    output_cap: 32_768,
    execution_count: 1,
  }).done;
  await new Promise((r) => setTimeout(r, 50));
  let longest = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  last = t0;
  if (how === 'forced') box.kill();
  await box.close();
  const end = performance.now();
  clearInterval(ticker);
  return { stall: Math.max(longest, end - last), close: end - t0 };
}

/** Runs this benchmark and prints its figures (also .bench/close-stall.json). */
export async function runCloseStall(): Promise<void> {
  const sides: Record<string, Awaited<ReturnType<typeof loadBox>>> = {
    current: await loadBox(join(ROOT, 'dist')),
    ...(BEFORE ? { before: await loadBox(BEFORE) } : {}),
  };
  const names = Object.keys(sides).flatMap((side) =>
    (['polite', 'forced'] as const).map((how) => `${side} ${how}`),
  );
  const samples = Object.fromEntries(names.map((n) => [n, [] as Sample[]]));
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-close-'));
  const load = loadavg()[0]!;
  try {
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const n = names[(i + k) % names.length]!;
        const [side, how] = n.split(' ') as [string, How];
        samples[n]!.push(await closeOnce(sides[side]!, how, dir, `bench-close-${process.pid}-${k}-${i}`));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const results: Record<string, { longest_stall_ms: Summary; close_ms: Summary }> = {};
  for (const n of names) {
    results[n] = {
      longest_stall_ms: summarize(samples[n]!.map((s) => s.stall)),
      close_ms: summarize(samples[n]!.map((s) => s.close)),
    };
  }
  const out = {
    machine: { cpus: cpus().length, node: process.version, load_average_1m: load },
    ...(BEFORE ? { before: BEFORE } : {}),
    rounds: ROUNDS,
    interleaved: true,
    results,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'close-stall.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      names.map((n) => ({
        side: n,
        'longest stall p50 ms': results[n]!.longest_stall_ms.p50.toFixed(1),
        'longest stall max ms': Math.max(...samples[n]!.map((s) => s.stall)).toFixed(1),
        'close p50 ms': results[n]!.close_ms.p50.toFixed(1),
      })),
    ),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runCloseStall();
