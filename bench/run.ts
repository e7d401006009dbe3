// Foundation benchmarks: execute round trip, server start, session creation with and without the pool,
// idle memory per session, and the two floors (a no-op MCP tool, a bare Python over a pipe), in one run; then the
// issue-15 figures (start to tools/list with an SDK 1.x client, HTTP against stdio, 1/4/16 clients, the first plot),
// the backups A/B against the previous file layer (backups-ab.ts) and the retention soak (soak.ts). Every ratio
// printed compares two sides measured interleaved in one run (stats.ts refuses any other).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { interleavedRatio, summarize, table, tagged, type Summary } from './stats.js';
import { printConcurrency, runConcurrency } from './concurrency.js';
import { runFirstPlot } from './first-plot.js';
import { runHttpVsStdio } from './http-vs-stdio.js';
import { runToolsList } from './tools-list.js';
import { runCloseStall } from './close-stall.js';
import { runShellExecute } from './shell-execute.js';
import { printSoak, runSoak } from './soak.js';
import { printBackupsAb, runBackupsAb } from './backups-ab.js';
import { runDocker } from './docker.js';
import { Box } from '../src/sandbox/box.js';
import { AGENT_DIR } from '../src/sandbox/box-options.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const N = Number(process.env.BENCH_N ?? 300);
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  SANDBOX_MCP_LOG_LEVEL: 'error',
};

async function connect(command: string, args: string[]): Promise<{ client: Client; startMs: number }> {
  const t0 = performance.now();
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StdioClientTransport({ command, args, env, stderr: 'ignore' }));
  await client.listTools();
  return { client, startMs: performance.now() - t0 };
}

async function timeCalls(fn: () => Promise<unknown>, n: number, warm = 20): Promise<Summary> {
  for (let i = 0; i < warm; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return summarize(samples);
}

/** Times call kinds in alternating blocks of 20, after a warm-up of each, so drift hits all alike. */
async function interleaved(fns: Array<() => Promise<unknown>>, n: number): Promise<Summary[]> {
  for (let i = 0; i < 100; i++) for (const fn of fns) await fn();
  const samples: number[][] = fns.map(() => []);
  const block = 20;
  for (let done = 0; done < n; done += block) {
    for (const [k, fn] of fns.entries()) {
      for (let i = 0; i < block; i++) {
        const t = performance.now();
        await fn();
        samples[k]!.push(performance.now() - t);
      }
    }
  }
  return samples.map((s) => summarize(s));
}

async function benchBarePython(): Promise<Summary> {
  const child = spawn('/usr/bin/python3', ['-I', '-u', join(ROOT, 'bench', 'bare-python.py')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const waiters = new Map<number, () => void>();
  lines.on('line', (l) => {
    const m = JSON.parse(l) as { id: number };
    waiters.get(m.id)?.();
  });
  let id = 0;
  const call = () =>
    new Promise<void>((res) => {
      const my = ++id;
      waiters.set(my, res);
      child.stdin.write(JSON.stringify({ id: my, code: 'x = globals().get("x", 0) + 1' }) + '\n');
    });
  const s = await timeCalls(call, N * 3);
  child.kill();
  return s;
}

/**
 * The box alone, driven in-process without MCP: a ping (server → agent → server) and an execute (server → kernel
 * → server over the lane), two wake-ups each, interleaved. Shows what the box round trip costs by itself.
 */
async function benchBoxDirect(dataDir: string): Promise<{ ping: Summary; execute: Summary }> {
  const ws = join(dataDir, 'box-direct', 'workspace');
  const mpl = join(dataDir, 'box-direct', 'mpl');
  mkdirSync(ws, { recursive: true });
  mkdirSync(mpl, { recursive: true });
  const box = await Box.start({
    name: `bench-${process.pid}`,
    workspace: ws,
    mplConfigDir: mpl,
    agentDir: AGENT_DIR,
    isolation: 'bwrap',
    bwrapPath: '/usr/bin/bwrap',
    python: '/usr/bin/python3',
    limits: { memoryBytes: 1 << 30, pids: 256, fileSizeBytes: 1 << 30, openFiles: 1024 },
  });
  try {
    let count = 0;
    const run = () =>
      box.request({
        op: 'execute',
        code: 'x = globals().get("x", 0) + 1',
        timeout_ms: 60_000,
        grace_ms: 2000,
        output_cap: 32_768,
        execution_count: ++count,
      }).done;
    const [ping, execute] = await interleaved([() => box.request({ op: 'ping' }).done, run], N);
    return { ping: ping!, execute: execute! };
  } finally {
    await box.close();
  }
}

async function startNoopV1(): Promise<{ client: ClientV1; startMs: number }> {
  const t0 = performance.now();
  const client = new ClientV1({ name: 'bench', version: '1' });
  await client.connect(
    new StdioV1({
      command: process.execPath,
      args: [join(ROOT, 'dist', 'bench', 'noop-server-v1.js')],
      env,
      stderr: 'ignore',
    }),
  );
  await client.listTools();
  return { client, startMs: performance.now() - t0 };
}

function rssOfTree(rootPid: number): number {
  // Sum RSS of every process whose ancestry reaches rootPid (the server and its boxes).
  const parents = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(d), Number(fields[1]));
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      rss.set(Number(d), m ? Number(m[1]) * 1024 : 0);
    } catch {
      // Process went away.
    }
  }
  let total = 0;
  for (const [pid, bytes] of rss) {
    let p: number | undefined = pid;
    for (let hops = 0; p && hops < 64; hops++) {
      if (p === rootPid) {
        total += bytes;
        break;
      }
      p = parents.get(p);
    }
  }
  return total;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-'));
  try {
    // The machine's speed drifts by 2-3x over minutes, so each ratio's two sides are measured interleaved:
    // alternating blocks of calls (and alternating starts) rather than one after the other.
    results.bare_python_pipe_ms = await benchBarePython();
    const direct = await benchBoxDirect(dataDir);
    results.box_direct_ping_ms = direct.ping;
    results.box_direct_execute_ms = direct.execute;
    // Its calls are timed with the v2 no-op's, interleaved, below.
    const v1 = await startNoopV1();
    results.noop_server_v1_start_ms = v1.startMs;

    const noopStarts: number[] = [];
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const n = await connect(process.execPath, [join(ROOT, 'dist', 'bench', 'noop-server-v2.js')]);
      noopStarts.push(n.startMs);
      await n.client.close();
      const s = await connect(process.execPath, [
        CLI,
        '--data-dir',
        join(dataDir, `start-${i}`),
        '--pool-size',
        '0',
      ]);
      starts.push(s.startMs);
      await s.client.close();
    }
    results.noop_server_v2_start_ms = summarize(noopStarts);
    results.server_start_to_tools_list_ms = summarize(starts);

    const noop = await connect(process.execPath, [join(ROOT, 'dist', 'bench', 'noop-server-v2.js')]);
    const main = await connect(process.execPath, [
      CLI,
      '--data-dir',
      join(dataDir, 'main'),
      '--pool-size',
      '2',
    ]);
    const c = main.client;
    const warm = (await c.callTool({ name: 'create_session', arguments: {} })).structuredContent as {
      session_id: string;
    };
    await c.callTool({ name: 'execute', arguments: { code: 'x = 0', session_id: warm.session_id } });
    // The spin tool holds the same no-op server busy for 1 ms: how a call's length alone moves the ratio here.
    const [noopCalls, spinCalls, execCalls, v1Calls] = await interleaved(
      [
        () => noop.client.callTool({ name: 'noop', arguments: {} }),
        () => noop.client.callTool({ name: 'spin', arguments: { ms: 1 } }),
        () => c.callTool({ name: 'execute', arguments: { code: 'x += 1', session_id: warm.session_id } }),
        () => v1.client.callTool({ name: 'noop', arguments: {} }),
      ],
      N,
    );
    results.noop_tool_v2_ms = noopCalls;
    results.spin_1ms_tool_v2_ms = spinCalls;
    results.execute_warm_ms = execCalls;
    results.noop_tool_v1_ms = v1Calls;
    await noop.client.close();
    await v1.client.close();

    const createFirst = async (): Promise<number> => {
      const t = performance.now();
      const s = (await c.callTool({ name: 'create_session', arguments: {} })).structuredContent as {
        session_id: string;
      };
      await c.callTool({ name: 'execute', arguments: { code: '1 + 1', session_id: s.session_id } });
      const ms = performance.now() - t;
      await c.callTool({ name: 'close_session', arguments: { session_id: s.session_id } });
      return ms;
    };
    const pooled: number[] = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 1500)); // let the pool refill between samples
      pooled.push(await createFirst());
    }
    results.create_plus_first_execute_pooled_ms = summarize(pooled);
    // Cold: a session with a non-default memory limit never comes from the pool.
    const cold: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      const s = (await c.callTool({ name: 'create_session', arguments: { memory_mb: 1000 } }))
        .structuredContent as { session_id: string };
      await c.callTool({ name: 'execute', arguments: { code: '1 + 1', session_id: s.session_id } });
      cold.push(performance.now() - t);
      await c.callTool({ name: 'close_session', arguments: { session_id: s.session_id } });
    }
    results.create_plus_first_execute_cold_ms = summarize(cold);
    await c.close();

    // Idle memory per session: RSS of the server's process tree with 10 more idle sessions, per session.
    const memDir = join(dataDir, 'mem');
    mkdirSync(memDir, { recursive: true });
    // The default session and 10 more: above the per-client cap of 10 open sessions.
    const mem = await connect(process.execPath, [
      CLI,
      '--data-dir',
      memDir,
      '--pool-size',
      '0',
      '--max-sessions',
      '11',
    ]);
    const serverPid = await findServerPid(memDir);
    await mem.client.callTool({ name: 'execute', arguments: { code: '1' } });
    await new Promise((r) => setTimeout(r, 500));
    const before = rssOfTree(serverPid);
    for (let i = 0; i < 10; i++) {
      const s = (await mem.client.callTool({ name: 'create_session', arguments: {} })).structuredContent as {
        session_id: string;
      };
      await mem.client.callTool({ name: 'execute', arguments: { code: '1', session_id: s.session_id } });
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = rssOfTree(serverPid);
    results.idle_memory_per_session_mb = Math.round(((after - before) / 10 / 1024 / 1024) * 10) / 10;
    await mem.client.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  // The calls (noop, spin, execute, v1 noop) were one interleaved run, the starts another.
  const calls = (k: string) => tagged((results[k] as Summary).p50, 'calls');
  const starts = (k: string) => tagged((results[k] as Summary).p50, 'starts');
  const ratios = {
    execute_p50_over_noop_p50: interleavedRatio(calls('execute_warm_ms'), calls('noop_tool_v2_ms')),
    spin_1ms_p50_over_noop_p50: interleavedRatio(calls('spin_1ms_tool_v2_ms'), calls('noop_tool_v2_ms')),
    server_start_over_noop_start: interleavedRatio(
      starts('server_start_to_tools_list_ms'),
      starts('noop_server_v2_start_ms'),
    ),
    v1_noop_p50_over_v2_noop_p50: interleavedRatio(calls('noop_tool_v1_ms'), calls('noop_tool_v2_ms')),
  };
  const targets = {
    execute_p50_within_2_5x_noop: ratios.execute_p50_over_noop_p50 <= 2.5,
    server_start_within_2x_noop_start: ratios.server_start_over_noop_start <= 2,
    pooled_create_plus_execute_under_100ms:
      (results.create_plus_first_execute_pooled_ms as Summary).p50 < 100,
  };
  const out = {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    results,
    ratios,
    targets,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'foundation.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  const rows = Object.entries(results).map(([k, v]) =>
    typeof v === 'object' && v !== null
      ? { metric: k, ...(v as Record<string, number>) }
      : { metric: k, value: v as number },
  );
  console.log(
    table(
      rows.map((r) => ({
        metric: String(r.metric),
        p50: String((r as any).p50 ?? (r as any).value ?? ''),
        p95: String((r as any).p95 ?? ''),
        p99: String((r as any).p99 ?? ''),
        n: String((r as any).n ?? ''),
      })),
    ),
  );
  console.log(
    table(Object.entries({ ...ratios, ...targets }).map(([k, v]) => ({ check: k, value: String(v) }))),
  );
}

async function findServerPid(dataDir: string): Promise<number> {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(CLI) && cmd.includes(dataDir)) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error('server process not found');
}

await main();
// BENCH_FOUNDATION_ONLY=1: the foundation figures above alone.
if (process.env.BENCH_FOUNDATION_ONLY === '1') process.exit(0);
// Issue 15's figures, each benchmark's sides interleaved: start to tools/list with the SDK 1.x client against a
// one-tool server; the event loop's longest stall while a box closes; warm execute over HTTP against stdio; 1, 4 and
// 16 clients; create_session plus a first plot.
await runToolsList();
await runCloseStall();
await runHttpVsStdio();
printConcurrency(await runConcurrency());
await runFirstPlot();
// shell_execute round trips, with an older build beside when BENCH_SHELL_BEFORE names one (.bench/shell-execute.json).
await runShellExecute();
// Backup and rollback of this tree against the commit before the descriptor layer, interleaved (.bench/backups-ab.json).
printBackupsAb(await runBackupsAb());
// The Docker backend beside bubblewrap, when an engine answers (.bench/docker.json).
await runDocker();
// The soak last: a few minutes of executes, the database and data dir growth per 1,000 calls (.bench/soak.json).
printSoak(await runSoak());
