// HTTP against stdio: warm execute p50/p99 and the server's own CPU per call over stdio and Streamable HTTP, in both
// protocol eras, beside the floor of the two transports (a server that answers at once with a canned result, same
// client), and an older build's stdio and HTTP when given, all measured interleaved in one run, and the ratios (JSON +
// table, .bench/http-vs-stdio.json).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { summarize, table, type Summary } from './stats.js';
import { listeningUrl } from './listening-url.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
// An older build (a copy of its dist/src) whose HTTP side is measured in the same rounds, for a before/after.
const BEFORE = process.env.BENCH_HTTP_BEFORE;
const N = Number(process.env.BENCH_N ?? 500);
// A folder for V8 CPU profiles of every server (node --cpu-prof), written when the servers exit.
const CPU_PROF = process.env.BENCH_CPU_PROF;
const BLOCK = 20;
const TOKEN = `bench-token-${process.pid}-0123456789`;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  SANDBOX_MCP_LOG_LEVEL: 'error',
};

type Era = '2025' | '2026';

interface Variant {
  name: string;
  transport: 'stdio' | 'http';
  era: Era;
  client: Client;
  pid: number;
  session: string;
  stop: () => Promise<void>;
  samples: number[];
  userMs: number;
  sysMs: number;
  /** The server's main thread (its event loop) alone, in ns on the CPU: exact, where user + system count ticks. */
  mainNs: number;
}

/** The main thread's time on the CPU in ns (/proc/<pid>/task/<pid>/schedstat), not rounded to clock ticks. */
function mainThreadNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** The server's own CPU time (not its boxes') from /proc/<pid>/stat, in ms: user and system. */
function cpuMs(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) * TICK_MS, sys: Number(fields[12]) * TICK_MS };
}

function newClient(era: Era): Client {
  return new Client(
    { name: 'bench-http-vs-stdio', version: '1' },
    { versionNegotiation: { mode: era === '2026' ? 'auto' : 'legacy' } },
  );
}

/** A sandbox-mcp server gets a warm session; a canned one answers anything. */
async function withSession(
  v: Omit<Variant, 'session' | 'samples' | 'userMs' | 'sysMs' | 'mainNs'>,
  canned: boolean,
): Promise<Variant> {
  const fresh = { samples: [], userMs: 0, sysMs: 0, mainNs: 0 };
  if (canned) return { ...v, session: '', ...fresh };
  const s = (await v.client.callTool({ name: 'create_session', arguments: {} })).structuredContent as {
    session_id: string;
  };
  await v.client.callTool({ name: 'execute', arguments: { code: 'x = 0', session_id: s.session_id } });
  return { ...v, session: s.session_id, ...fresh };
}

function serverArgs(cli: string, dataDir: string, rest: string[]): string[] {
  const prof =
    CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${CPU_PROF}`];
  return [...prof, cli, ...rest, '--data-dir', dataDir, '--pool-size', '1'];
}

async function startStdio(name: string, era: Era, args: string[], canned = false): Promise<Variant> {
  const transport = new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' });
  const client = newClient(era);
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error('stdio server has no pid');
  return withSession({ name, transport: 'stdio', era, client, pid, stop: () => client.close() }, canned);
}

async function startHttp(name: string, era: Era, args: string[], canned = false): Promise<Variant> {
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await listeningUrl(child);
  const client = newClient(era);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
    }),
  );
  const stop = async (): Promise<void> => {
    await client.close().catch(() => undefined);
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return withSession({ name, transport: 'http', era, client, pid: child.pid!, stop }, canned);
}

/**
 * The floor: a server that answers every call at once with a canned result, over node:http (JSON bodies) or over
 * a pipe, so what remains is the transport on both sides and the client.
 */
const CANNED = `
const answer = (m) => m.id === undefined ? undefined : JSON.stringify({ jsonrpc: '2.0', id: m.id, result:
  m.method === 'initialize'
    ? { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'canned', version: '1' } }
    : { content: [{ type: 'text', text: 'ok' }] } });
if (process.argv.includes('--http')) {
  const server = (await import('node:http')).createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = req.method === 'POST' ? answer(JSON.parse(Buffer.concat(chunks).toString())) : undefined;
      if (text === undefined) return res.writeHead(req.method === 'POST' ? 202 : 405).end();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stderr.write('listening on http://127.0.0.1:' + server.address().port + '/mcp\\n'));
} else {
  (await import('node:readline')).createInterface({ input: process.stdin }).on('line', (line) => {
    const text = answer(JSON.parse(line));
    if (text !== undefined) process.stdout.write(text + '\\n');
  });
}`;

function cannedArgs(http: boolean): string[] {
  return ['--input-type=module', '-e', CANNED, ...(http ? ['--', '--http'] : [])];
}

const execute = (v: Variant) =>
  v.client.callTool({ name: 'execute', arguments: { code: 'x += 1', session_id: v.session } });

/**
 * Alternating blocks of calls, one variant at a time, so the machine's drift hits every variant alike; a variant's
 * server CPU is read around each of its blocks (the others are idle meanwhile).
 */
async function interleaved(variants: Variant[], n: number): Promise<void> {
  for (let i = 0; i < 100; i++) for (const v of variants) await execute(v);
  for (let done = 0; done < n; done += BLOCK) {
    for (const v of variants) {
      const cpu0 = cpuMs(v.pid);
      const main0 = mainThreadNs(v.pid);
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await execute(v);
        v.samples.push(performance.now() - t);
      }
      const main1 = mainThreadNs(v.pid);
      const cpu1 = cpuMs(v.pid);
      v.mainNs += main1 - main0;
      v.userMs += cpu1.user - cpu0.user;
      v.sysMs += cpu1.sys - cpu0.sys;
    }
  }
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs this benchmark and prints its figures (also .bench/http-vs-stdio.json). */
export async function runHttpVsStdio(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-http-'));
  const variants: Variant[] = [];
  try {
    const serve = (cli: string, dir: string) =>
      serverArgs(cli, join(dataDir, dir), ['serve', '--port', '0', '--token', TOKEN]);
    // The floor speaks the 2025 handshake only.
    variants.push(await startStdio('floor_stdio_2025', '2025', cannedArgs(false), true));
    variants.push(await startHttp('floor_http_2025', '2025', cannedArgs(true), true));
    for (const era of ['2025', '2026'] as const) {
      variants.push(
        await startStdio(`stdio_${era}`, era, serverArgs(CLI, join(dataDir, `stdio-${era}`), [])),
      );
      variants.push(await startHttp(`http_${era}`, era, serve(CLI, `http-${era}`)));
      if (BEFORE !== undefined) {
        const cli = join(resolve(BEFORE), 'src', 'bin', 'sandbox-mcp.js');
        if (!existsSync(cli)) throw new Error(`BENCH_HTTP_BEFORE has no src/bin/sandbox-mcp.js: ${BEFORE}`);
        variants.push(
          await startStdio(
            `stdio_before_${era}`,
            era,
            serverArgs(cli, join(dataDir, `stdio-before-${era}`), []),
          ),
        );
        variants.push(await startHttp(`http_before_${era}`, era, serve(cli, `before-${era}`)));
      }
    }
    await interleaved(variants, N);
  } finally {
    for (const v of variants) await v.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }

  const results: Record<
    string,
    {
      execute_ms: Summary;
      server_cpu_ms_per_call: number;
      user_ms: number;
      system_ms: number;
      main_thread_cpu_ms_per_call: number;
    }
  > = {};
  for (const v of variants) {
    const n = v.samples.length;
    results[v.name] = {
      execute_ms: summarize(v.samples),
      server_cpu_ms_per_call: round((v.userMs + v.sysMs) / n),
      user_ms: round(v.userMs / n),
      system_ms: round(v.sysMs / n),
      main_thread_cpu_ms_per_call: round(v.mainNs / 1e6 / n, 4),
    };
  }
  // Every ratio compares two variants of the same interleaved run.
  const floorStdio = results['floor_stdio_2025']!;
  const floorHttp = results['floor_http_2025']!;
  const ratios: Record<string, number> = {
    floor_http_p50_over_floor_stdio_p50: round(floorHttp.execute_ms.p50 / floorStdio.execute_ms.p50, 2),
    // What HTTP costs over stdio with nothing behind it: the client and node:http, not sandbox-mcp.
    floor_http_minus_stdio_p50_ms: round(floorHttp.execute_ms.p50 - floorStdio.execute_ms.p50),
    floor_http_minus_stdio_cpu_ms: round(
      floorHttp.server_cpu_ms_per_call - floorStdio.server_cpu_ms_per_call,
    ),
  };
  for (const era of ['2025', '2026'] as const) {
    const ownStdio = results[`stdio_${era}`]!;
    // The build before and this one over stdio: what a change took off the server's work per call.
    const stdioBefore = results[`stdio_before_${era}`];
    if (stdioBefore !== undefined) {
      ratios[`stdio_${era}_cpu_over_stdio_before_cpu`] = round(
        ownStdio.server_cpu_ms_per_call / stdioBefore.server_cpu_ms_per_call,
        2,
      );
      ratios[`stdio_${era}_minus_stdio_before_cpu_ms`] = round(
        ownStdio.server_cpu_ms_per_call - stdioBefore.server_cpu_ms_per_call,
      );
      ratios[`stdio_${era}_main_thread_over_stdio_before`] = round(
        ownStdio.main_thread_cpu_ms_per_call / stdioBefore.main_thread_cpu_ms_per_call,
        3,
      );
    }
    for (const name of [`http_${era}`, `http_before_${era}`]) {
      const http = results[name];
      if (http === undefined) continue;
      // Each build's HTTP over its own stdio (the build before's stdio when it was measured).
      const stdio = name.startsWith('http_before') ? (stdioBefore ?? ownStdio) : ownStdio;
      ratios[`${name}_p50_over_stdio_p50`] = round(http.execute_ms.p50 / stdio.execute_ms.p50, 2);
      ratios[`${name}_cpu_over_stdio_cpu`] = round(
        http.server_cpu_ms_per_call / stdio.server_cpu_ms_per_call,
        2,
      );
      // What its HTTP adds over its stdio; compare with floor_http_minus_stdio_* (no server work at all).
      ratios[`${name}_minus_stdio_cpu_ms`] = round(
        http.server_cpu_ms_per_call - stdio.server_cpu_ms_per_call,
      );
      ratios[`${name}_minus_stdio_p50_ms`] = round(http.execute_ms.p50 - stdio.execute_ms.p50);
    }
    const http = results[`http_${era}`];
    const httpBefore = results[`http_before_${era}`];
    if (http !== undefined && httpBefore !== undefined) {
      ratios[`http_${era}_main_thread_over_http_before`] = round(
        http.main_thread_cpu_ms_per_call / httpBefore.main_thread_cpu_ms_per_call,
        3,
      );
    }
  }
  // The best HTTP p50 over stdio's a server could reach with this client: stdio's execute plus the floor's HTTP cost.
  ratios['http_2025_p50_over_stdio_p50_at_zero_server_cost'] = round(
    (results['stdio_2025']!.execute_ms.p50 + ratios['floor_http_minus_stdio_p50_ms']!) /
      results['stdio_2025']!.execute_ms.p50,
    2,
  );
  const targets = {
    http_2025_p50_within_1_5x_stdio: (ratios['http_2025_p50_over_stdio_p50'] ?? Infinity) <= 1.5,
    http_2026_p50_within_1_5x_stdio: (ratios['http_2026_p50_over_stdio_p50'] ?? Infinity) <= 1.5,
  };
  const out = {
    machine: { cpus: cpus().length, node: process.version },
    calls_per_variant: N,
    interleaved_blocks_of: BLOCK,
    results,
    ratios,
    targets,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'http-vs-stdio.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      Object.entries(results).map(([name, r]) => ({
        variant: name,
        p50_ms: r.execute_ms.p50,
        p99_ms: r.execute_ms.p99,
        server_cpu_ms_per_call: r.server_cpu_ms_per_call,
        of_it_user: r.user_ms,
        of_it_system: r.system_ms,
        main_thread_cpu_ms: r.main_thread_cpu_ms_per_call,
        n: r.execute_ms.n,
      })),
    ),
  );
  console.log(
    table(Object.entries({ ...ratios, ...targets }).map(([k, v]) => ({ check: k, value: String(v) }))),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runHttpVsStdio();
