// First real work in a new session: create_session plus a first pandas/matplotlib plot, with a preloaded pool and a
// bare one, beside the same imports in a plain python3, interleaved in one run; where the first plot's time goes;
// and the memory of a pooled box and of each library (.bench/first-plot.json and tables).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { interleavedRatio, summarize, table, tagged, type Summary } from './stats.js';
import { Box } from '../src/sandbox/box.js';
import { boxThreads, threadPoolEnv } from '../src/sandbox/thread-pools.js';
import { AGENT_DIR } from '../src/sandbox/box-options.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const ROUNDS = Number(process.env.BENCH_FIRST_PLOT_N ?? 12);
/** Between samples, so each server's pool has refilled; grows when a sample found the pool empty. */
let pauseMs = Number(process.env.BENCH_FIRST_PLOT_PAUSE_MS ?? 2500);

const PLOT = 'import pandas as pd, matplotlib.pyplot as plt\nplt.plot([1, 2, 3])';
// Seconds since the kernel started: more than the time since create_session was called means a pooled box.
const KERNEL_AGE = `print(__import__('time').clock_gettime(__import__('time').CLOCK_BOOTTIME)
      - int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]) / __import__('os').sysconf('SC_CLK_TCK'))`;
// The first plot taken apart inside a pooled kernel: each step timed in the cell. plt.show() is the kernel's own
// capture (savefig with the tight bounding box and PNG, the file under plots/, base64, the display message); the PNG
// encode is timed again alone on the drawn canvas. Nothing is left for the end of the cell to render.
const SPLIT = `import json as _j, time as _t
_s = [_t.perf_counter()]
import pandas as pd, matplotlib.pyplot as plt
_s.append(_t.perf_counter())
from matplotlib.font_manager import findfont as _ff, get_font as _gf
_gf(_ff('DejaVu Sans'))
_s.append(_t.perf_counter())
_f = plt.figure()
_s.append(_t.perf_counter())
plt.plot([1, 2, 3])
_s.append(_t.perf_counter())
plt.show()
_s.append(_t.perf_counter())
import io as _io, numpy as _np
from PIL import Image as _I
_I.fromarray(_np.asarray(_f.canvas.buffer_rgba())).save(_io.BytesIO(), format='png')
_s.append(_t.perf_counter())
_d = [round((b - a) * 1000, 3) for a, b in zip(_s, _s[1:])]
print(_j.dumps(dict(zip(('import', 'font', 'figure', 'plot', 'show', 'png_encode'), _d), cell=round((_s[-1] - _s[0]) * 1000, 3))))`;
// The same work in a plain interpreter: the imports timed inside it, and the plot as the kernel renders it.
const PLAIN = `import time, io
t0 = time.perf_counter()
import pandas as pd, matplotlib.pyplot as plt
t1 = time.perf_counter()
plt.plot([1, 2, 3]); plt.gcf().savefig(io.BytesIO(), format='png', dpi=100, bbox_inches='tight')
print((t1 - t0) * 1000, (time.perf_counter() - t1) * 1000)`;
// What each library adds to a plain interpreter's memory, in the preload's order, then the preload's warm-up figure.
const LIBRARY_MEMORY = `import io, json
def mem():
    d = {}
    for line in open('/proc/self/smaps_rollup'):
        k, _, v = line.partition(':')
        if k in ('Rss', 'Pss', 'Anonymous'):
            d[k] = round(int(v.split()[0]) / 1024, 1)
    return d
steps = [('python', mem())]
for name in ('numpy', 'pandas', 'matplotlib', 'matplotlib.pyplot'):
    __import__(name)
    steps.append((name, mem()))
from matplotlib.figure import Figure
fig = Figure(); fig.add_subplot().plot([0, 1], [0, 1]); fig.savefig(io.BytesIO(), format='png', dpi=100, bbox_inches='tight')
steps.append(('warm-up figure', mem()))
print(json.dumps(steps))`;

interface Server {
  name: string;
  client: Client;
  pid: number;
}

async function startServer(name: string, preload: string, dataDir: string): Promise<Server> {
  const client = new Client({ name: 'bench-first-plot', version: '1' });
  const args = [CLI, '--data-dir', dataDir, '--pool-size', '1', '--preload', preload];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir, SANDBOX_MCP_LOG_LEVEL: 'error' };
  const transport = new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' });
  await client.connect(transport);
  return { name, client, pid: transport.pid! };
}

async function sc(s: Server, name: string, args: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await s.client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${s.name} ${name}: ${JSON.stringify(r.content).slice(0, 300)}`);
  return r.structuredContent as Record<string, any>;
}

/** Whether the session's kernel started before `since` (performance.now()), so its box came from the pool. */
async function fromPool(s: Server, sessionId: string, since: number): Promise<boolean> {
  const age = Number((await sc(s, 'execute', { code: KERNEL_AGE, session_id: sessionId })).stdout);
  return age > (performance.now() - since) / 1000;
}

const cpuOf = (r: Record<string, any>): number =>
  Number(r.usage?.cpu_user_ms ?? 0) + Number(r.usage?.cpu_system_ms ?? 0);

interface FirstPlot {
  ms: number;
  handoutMs: number;
  executeMs: number;
  /** The kernel's CPU time for the first plot's cell, and for the same cell again in that kernel. */
  cpuMs: number;
  againCpuMs: number;
  pooled: boolean;
}

/** create_session plus the first plot, timed (and its two calls apart); then, untimed, the same plot again. */
async function firstPlot(s: Server): Promise<FirstPlot> {
  const t = performance.now();
  const session = await sc(s, 'create_session', {});
  const handoutMs = performance.now() - t;
  const r = await s.client.callTool({
    name: 'execute',
    arguments: { code: PLOT, session_id: session.session_id },
  });
  const ms = performance.now() - t;
  if (r.isError || !r.content.some((c) => c.type === 'image')) {
    throw new Error(
      `${s.name}: the first plot returned no image: ${JSON.stringify(r.content).slice(0, 300)}`,
    );
  }
  const again = await sc(s, 'execute', { code: PLOT, session_id: session.session_id });
  const pooled = await fromPool(s, session.session_id, t);
  await sc(s, 'close_session', { session_id: session.session_id });
  const cpuMs = cpuOf(r.structuredContent as Record<string, any>);
  return { ms, handoutMs, executeMs: ms - handoutMs, cpuMs, againCpuMs: cpuOf(again), pooled };
}

type Split = Record<string, number>;

/**
 * The first plot of a new pooled session taken apart: the hand-out (create_session), each step inside the kernel
 * (SPLIT), an empty execute's round trip in that session, and what the server added to the plot's execute besides
 * both (the workspace scan for the new file, the image's checks and the result). Null when the box was not pooled.
 */
async function splitPlot(s: Server): Promise<Split | null> {
  const t = performance.now();
  const session = await sc(s, 'create_session', {});
  const handout = performance.now() - t;
  const t1 = performance.now();
  const r = await sc(s, 'execute', { code: SPLIT, session_id: session.session_id });
  const execute = performance.now() - t1;
  const t2 = performance.now();
  await sc(s, 'execute', { code: 'pass', session_id: session.session_id });
  const roundTrip = performance.now() - t2;
  const pooled = await fromPool(s, session.session_id, t);
  await sc(s, 'close_session', { session_id: session.session_id });
  if (!pooled) return null;
  const kernel = JSON.parse(r.stdout as string) as Split;
  return {
    handout,
    execute_round_trip: roundTrip,
    ...Object.fromEntries(Object.entries(kernel).map(([k, v]) => [`kernel_${k}`, v])),
    server_besides_kernel_and_round_trip: execute - kernel.cell! - roundTrip,
    execute,
  };
}

function plainEnv(mplDir: string): Record<string, string> {
  return {
    PATH: '/usr/bin:/bin',
    MPLBACKEND: 'Agg',
    MPLCONFIGDIR: mplDir,
    ...threadPoolEnv(boxThreads(undefined)),
  };
}

/** The imports and the plot in a new plain python3, with the box's thread settings and a built font cache. */
async function plainPython(mplDir: string): Promise<{ importMs: number; plotMs: number; processMs: number }> {
  const t = performance.now();
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-I', '-c', PLAIN], {
    env: plainEnv(mplDir),
  });
  const processMs = performance.now() - t;
  const [importMs, plotMs] = stdout.trim().split(' ').map(Number);
  return { importMs: importMs!, plotMs: plotMs!, processMs };
}

interface LibraryMemory {
  step: string;
  rss_mb: number;
  pss_mb: number;
  anonymous_mb: number;
  rss_added_mb: number;
  pss_added_mb: number;
}

/** What numpy, pandas, matplotlib and pyplot each add to a plain python3 (RSS, PSS, anonymous). */
async function libraryMemory(mplDir: string): Promise<LibraryMemory[]> {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-I', '-c', LIBRARY_MEMORY], {
    env: plainEnv(mplDir),
  });
  const steps = JSON.parse(stdout) as Array<[string, { Rss: number; Pss: number; Anonymous: number }]>;
  return steps.map(([step, m], i) => ({
    step,
    rss_mb: m.Rss,
    pss_mb: m.Pss,
    anonymous_mb: m.Anonymous,
    rss_added_mb: round1(m.Rss - (i ? steps[i - 1]![1].Rss : 0)),
    pss_added_mb: round1(m.Pss - (i ? steps[i - 1]![1].Pss : 0)),
  }));
}

/** How long a box takes from start to ready (its kernel's hello), with the preload and without: a pool's refill time. */
async function boxReady(dir: string, mplDir: string, preload: boolean): Promise<number> {
  const ws = mkdtempSync(join(dir, 'box-'));
  const t = performance.now();
  const box = await Box.start({
    name: `bench-first-plot-${process.pid}`,
    workspace: ws,
    mplConfigDir: mplDir, // with the font cache built, as the server's seed gives every session
    agentDir: AGENT_DIR,
    isolation: 'bwrap',
    bwrapPath: '/usr/bin/bwrap',
    python: '/usr/bin/python3',
    limits: { memoryBytes: 1 << 30, pids: 256, fileSizeBytes: 1 << 30, openFiles: 1024 },
    env: preload ? { SANDBOX_PRELOAD: 'scientific' } : {},
    startTimeoutMs: 60_000,
  });
  const ms = performance.now() - t;
  await box.close();
  rmSync(ws, { recursive: true, force: true });
  return ms;
}

interface TreeMemory {
  processes: number;
  rss_mb: number;
  pss_mb: number;
  anonymous_mb: number;
  kernel_rss_mb: number;
  kernel_pss_mb: number;
}

/** Memory of each box under the server (each child's process tree that runs a kernel), from smaps_rollup. */
function boxMemory(rootPid: number): TreeMemory[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone
    }
  }
  const kb = (text: string, key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  const mb = (k: number) => round1(k / 1024);
  const boxes: TreeMemory[] = [];
  for (const top of children.get(rootPid) ?? []) {
    const tree = [top];
    for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
    let rss = 0;
    let pss = 0;
    let anon = 0;
    let kernel: string | null = null;
    for (const pid of tree) {
      try {
        const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
        rss += kb(r, 'Rss');
        pss += kb(r, 'Pss');
        anon += kb(r, 'Anonymous');
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kernel.py')) kernel = r;
      } catch {
        // gone
      }
    }
    if (kernel !== null) {
      boxes.push({
        processes: tree.length,
        rss_mb: mb(rss),
        pss_mb: mb(pss),
        anonymous_mb: mb(anon),
        kernel_rss_mb: mb(kb(kernel, 'Rss')),
        kernel_pss_mb: mb(kb(kernel, 'Pss')),
      });
    }
  }
  return boxes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (v: number) => Math.round(v * 10) / 10;
const load = () => loadavg().map((v) => Math.round(v * 10) / 10);

export async function runFirstPlot(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-first-plot-'));
  const mplDir = join(dir, 'mpl');
  mkdirSync(mplDir);
  const servers: Server[] = [];
  const loadBefore = load();
  try {
    servers.push(await startServer('preloaded_pool', 'scientific', join(dir, 'preloaded')));
    servers.push(await startServer('bare_pool', 'none', join(dir, 'bare')));
    const [preloaded, bare] = servers as [Server, Server];
    await plainPython(mplDir); // builds the font cache, as the server's seed does for boxes
    const ready = { preloaded: [] as number[], bare: [] as number[] };
    for (let i = 0; i < 5; i++) {
      ready.preloaded.push(await boxReady(dir, mplDir, true));
      ready.bare.push(await boxReady(dir, mplDir, false));
    }
    const samples: Record<string, FirstPlot[]> = { preloaded_pool: [], bare_pool: [] };
    const misses: Record<string, number> = { preloaded_pool: 0, bare_pool: 0, split: 0 };
    const splits: Split[] = [];
    const plain = { import: [] as number[], plot: [] as number[], process: [] as number[] };
    await sleep(pauseMs * 2);
    // Each round: the plain interpreter, then the two servers and the preloaded server's taken-apart plot in a
    // rotating order, a pause before each so the pool has refilled (the refill a take starts still runs beside that
    // sample's plot, as in real use).
    const steps: Array<() => Promise<void>> = [
      async () => {
        const p = await plainPython(mplDir);
        plain.import.push(p.importMs);
        plain.plot.push(p.plotMs);
        plain.process.push(p.processMs);
      },
      ...[preloaded, bare].map((s) => async () => {
        const r = await firstPlot(s);
        if (r.pooled) samples[s.name]!.push(r);
        else misses[s.name]!++;
        if (!r.pooled) pauseMs = Math.min(pauseMs * 1.5, 20_000);
      }),
      async () => {
        const r = await splitPlot(preloaded);
        if (r) splits.push(r);
        else misses.split!++;
        if (!r) pauseMs = Math.min(pauseMs * 1.5, 20_000);
      },
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < steps.length; k++) {
        await sleep(pauseMs);
        await steps[(k + round) % steps.length]!();
      }
    }
    await sleep(pauseMs * 2);
    const memory = {
      preloaded_pool_box: boxMemory(preloaded.pid),
      bare_pool_box: boxMemory(bare.pid),
    };
    const libraries = await libraryMemory(mplDir);
    const of = (name: string, key: keyof FirstPlot) => summarize(samples[name]!.map((x) => Number(x[key])));
    const results: Record<string, Summary> = {
      create_plus_first_plot_preloaded_pool_ms: of('preloaded_pool', 'ms'),
      create_plus_first_plot_bare_pool_ms: of('bare_pool', 'ms'),
      plain_python_import_pandas_pyplot_ms: summarize(plain.import),
      plain_python_first_plot_ms: summarize(plain.plot),
      plain_python_process_ms: summarize(plain.process),
      preloaded_handout_ms: of('preloaded_pool', 'handoutMs'),
      preloaded_first_plot_execute_ms: of('preloaded_pool', 'executeMs'),
      preloaded_first_plot_kernel_cpu_ms: of('preloaded_pool', 'cpuMs'),
      preloaded_same_plot_again_kernel_cpu_ms: of('preloaded_pool', 'againCpuMs'),
      bare_first_plot_kernel_cpu_ms: of('bare_pool', 'cpuMs'),
      box_start_to_ready_preloaded_ms: summarize(ready.preloaded),
      box_start_to_ready_bare_ms: summarize(ready.bare),
    };
    const split: Record<string, Summary> = Object.fromEntries(
      Object.keys(splits[0] ?? {}).map((k) => [`${k}_ms`, summarize(splits.map((x) => x[k]!))]),
    );
    const pre = results.create_plus_first_plot_preloaded_pool_ms!.p50;
    const preloadedBox = memory.preloaded_pool_box[0];
    const rounds = (k: string) => tagged(results[k]!.p50, 'rounds');
    const out = {
      machine: { cpus: availableParallelism(), node: process.version },
      load_average: { before: loadBefore, after: load() },
      rounds: ROUNDS,
      pause_ms: pauseMs,
      samples_without_a_pooled_box: misses,
      results,
      first_plot_split: split,
      memory,
      library_memory: libraries,
      ratios: {
        preloaded_over_bare_pool_p50: interleavedRatio(
          rounds('create_plus_first_plot_preloaded_pool_ms'),
          rounds('create_plus_first_plot_bare_pool_ms'),
        ),
        preloaded_over_plain_import_p50: interleavedRatio(
          rounds('create_plus_first_plot_preloaded_pool_ms'),
          rounds('plain_python_import_pandas_pyplot_ms'),
        ),
        preloaded_over_plain_render_p50: interleavedRatio(
          rounds('create_plus_first_plot_preloaded_pool_ms'),
          rounds('plain_python_first_plot_ms'),
        ),
        first_plot_cpu_over_same_plot_again_p50: interleavedRatio(
          rounds('preloaded_first_plot_kernel_cpu_ms'),
          rounds('preloaded_same_plot_again_kernel_cpu_ms'),
        ),
      },
      targets: {
        preloaded_create_plus_first_plot_p50_at_most_150ms: pre <= 150,
        preloaded_box_rss_at_most_60mb: preloadedBox !== undefined && preloadedBox.rss_mb <= 60,
      },
    };
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench', 'first-plot.json'), JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
    const summaryRows = (rows: Record<string, Summary>) =>
      Object.entries(rows).map(([metric, v]) => ({
        metric,
        p50: String(v.p50),
        p95: String(v.p95),
        n: String(v.n),
      }));
    console.log(table(summaryRows(results)));
    console.log(table(summaryRows(split)));
    console.log(
      table(
        Object.entries(memory).flatMap(([box, trees]) =>
          trees.map((t) => ({
            box,
            ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, String(v)])),
          })),
        ),
      ),
    );
    console.log(
      table(libraries.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, String(v)])))),
    );
    console.log(
      table(
        Object.entries({ ...out.ratios, ...out.targets }).map(([k, v]) => ({ check: k, value: String(v) })),
      ),
    );
  } finally {
    for (const s of servers) await s.client.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runFirstPlot();
