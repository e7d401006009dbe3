// Docker volume sync: execute("pass") p50 through the real server with `--docker-workspace volume` (the listing with
// the call's completion), an older build's volume mode (BENCH_VOLUME_BEFORE: the listing through exec) and bind mode,
// in alternating blocks of one run, with the exec count of each side from the engine's events
// (.bench/volume-sync.json). Needs DOCKER_HOST (e.g. `bash scripts/test-docker-engine.sh start`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { interleavedRatio, summarize, table, tagged, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
/** An older build (a copy of its dist/) whose volume mode is measured in the same rounds. */
const BEFORE = process.env.BENCH_VOLUME_BEFORE;
const N = Number(process.env.BENCH_N ?? 100);
/** Files in each workspace while it is measured (in folders of 100): the listing's walk grows with them. */
const FILES = Number(process.env.BENCH_VOLUME_FILES ?? 0);
const BLOCK = 10;
const RUN = `volume-sync-${process.pid}-${Date.now()}`;

interface Side {
  name: string;
  client: Client;
  session: string;
  samples: number[];
  execs: number;
}

function env(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'DOCKER_HOST', 'SANDBOX_MCP_DOCKER_BASE_IMAGE', 'SANDBOX_MCP_DOCKER_IMAGE'];
  const out: Record<string, string> = { SANDBOX_MCP_LOG_LEVEL: 'error' };
  for (const k of keep) if (process.env[k]) out[k] = process.env[k]!;
  return out;
}

async function start(
  name: string,
  cli: string,
  dataDir: string,
  workspace: 'volume' | 'bind',
): Promise<Side> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      cli,
      '--data-dir',
      dataDir,
      '--isolation',
      'docker',
      '--docker-workspace',
      workspace,
      '--pool-size',
      '0',
    ],
    env: env(),
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench-volume-sync', version: '1' });
  await client.connect(transport);
  const r = await client.callTool(
    { name: 'create_session', arguments: {} },
    {
      timeout: 20 * 60_000,
    },
  );
  const session = (r.structuredContent as { session_id: string }).session_id;
  await client.callTool(
    { name: 'execute', arguments: { code: 'pass', session_id: session } },
    {
      timeout: 20 * 60_000,
    },
  );
  if (FILES > 0) {
    const code = `import os\nfor i in range(${FILES}):\n    os.makedirs(f"d{i // 100}", exist_ok=True)\n    open(f"d{i // 100}/f{i}", "w").close()`;
    await client.callTool(
      { name: 'execute', arguments: { code, session_id: session } },
      { timeout: 10 * 60_000 },
    );
  }
  return { name, client, session, samples: [], execs: 0 };
}

const pass = (s: Side) =>
  s.client.callTool({ name: 'execute', arguments: { code: 'pass', session_id: s.session } });

/** Counts the execs the engine runs in a session's container from now until stop() (a live subscription). */
function watchExecs(session: string): { stop(): Promise<number> } {
  const child = spawn(
    'docker',
    [
      'events',
      ...['--since', (Date.now() / 1000).toFixed(3)],
      ...['--filter', 'type=container', '--filter', 'event=exec_create'],
      ...['--filter', `label=dev.sandbox-mcp.box.session=${session}`, '--format', '{{.TimeNano}}'],
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let lines = 0;
  child.stdout.on('data', (d: Buffer) => (lines += d.toString('utf8').split('\n').length - 1));
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 1500));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
      return lines;
    },
  };
}

/** Runs this benchmark and prints its figures (also .bench/volume-sync.json). */
export async function runVolumeSync(): Promise<void> {
  if (!process.env.DOCKER_HOST) throw new Error('DOCKER_HOST names no engine');
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-volume-'));
  const sides: Side[] = [];
  const load0 = loadavg()[0]!;
  try {
    sides.push(await start('volume', CLI, join(dataDir, 'volume'), 'volume'));
    if (BEFORE !== undefined) {
      const cli = join(resolve(BEFORE), 'src', 'bin', 'sandbox-mcp.js');
      if (!existsSync(cli)) throw new Error(`BENCH_VOLUME_BEFORE has no src/bin/sandbox-mcp.js: ${BEFORE}`);
      sides.push(await start('volume_before', cli, join(dataDir, 'before'), 'volume'));
    }
    sides.push(await start('bind', CLI, join(dataDir, 'bind'), 'bind'));
    for (const s of sides) for (let i = 0; i < 5; i++) await pass(s);
    const watches = sides.map((s) => watchExecs(s.session));
    await new Promise((r) => setTimeout(r, 1000)); // subscribed before the first measured call
    for (let done = 0; done < N; done += BLOCK) {
      for (const s of sides) {
        for (let i = 0; i < BLOCK; i++) {
          const t = performance.now();
          await pass(s);
          s.samples.push(performance.now() - t);
        }
      }
    }
    const counts = await Promise.all(watches.map((w) => w.stop()));
    sides.forEach((s, i) => (s.execs = counts[i]!));
  } finally {
    for (const s of sides) await s.client.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const results: Record<string, { execute_ms: Summary; execs_per_call: number }> = {};
  for (const s of sides) {
    results[s.name] = {
      execute_ms: summarize(s.samples),
      execs_per_call: Math.round((s.execs / s.samples.length) * 100) / 100,
    };
  }
  const p50 = (name: string) => tagged(results[name]!.execute_ms.p50, RUN);
  const ratios: Record<string, number> = {
    volume_p50_over_bind_p50: interleavedRatio(p50('volume'), p50('bind')),
  };
  if (results['volume_before'])
    ratios['volume_before_p50_over_volume_p50'] = interleavedRatio(p50('volume_before'), p50('volume'));
  const out = {
    machine: { cpus: cpus().length, node: process.version, loadavg_1m: [load0, loadavg()[0]!] },
    calls_per_side: N,
    workspace_files: FILES,
    interleaved_blocks_of: BLOCK,
    results,
    ratios,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'volume-sync.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      Object.entries(results).map(([name, r]) => ({
        side: name,
        p50_ms: r.execute_ms.p50,
        p95_ms: r.execute_ms.p95,
        mean_ms: r.execute_ms.mean,
        execs_per_call: r.execs_per_call,
      })),
    ),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runVolumeSync();
