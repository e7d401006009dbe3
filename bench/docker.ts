// The Docker backend beside bubblewrap: create_session plus a first execute, cold (no pool) and pooled, on each, in
// rotating rounds; and the memory of idle sessions' boxes on each (.bench/docker.json and tables). Without a Docker
// engine it says why and measures nothing.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { interleavedRatio, percentile, summarize, table, tagged, type Summary } from './stats.js';
import { benchEngine, prepareBoxImage } from './docker-engine.js';
import { bwrapBoxMemory, dockerBoxMemory, type BoxMemory } from './docker-memory.js';
import { dockerInstance } from '../src/sandbox/docker/backend.js';
import type { Engine } from '../src/sandbox/docker/engine.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const ROUNDS = Number(process.env.BENCH_DOCKER_N ?? 12);
const IDLE = Number(process.env.BENCH_DOCKER_IDLE_N ?? 5);
/** Between rounds, so each pool has refilled; grows when a pooled sample found its pool empty. */
let pauseMs = Number(process.env.BENCH_DOCKER_PAUSE_MS ?? 2500);
const TARGET_POOLED_MS = 1000;
// Seconds since the kernel started: more than the time since create_session was called means a pooled box.
const KERNEL_AGE = `print(__import__('time').clock_gettime(__import__('time').CLOCK_BOOTTIME)
      - int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]) / __import__('os').sysconf('SC_CLK_TCK'))`;

type Backend = 'bwrap' | 'docker';

interface Server {
  name: string;
  backend: Backend;
  pooled: boolean;
  dataDir: string;
  client: Client;
}

/** A server with the defaults (a pool of 2 that preloads the scientific set) but for `extra`. */
async function startServer(
  backend: Backend,
  kind: 'cold' | 'pooled' | 'idle',
  dir: string,
  engineEnv: Record<string, string>,
): Promise<Server> {
  const name = `${backend} ${kind}`;
  const dataDir = join(dir, `${backend}-${kind}`);
  const args = [CLI, '--data-dir', dataDir, '--isolation', backend];
  if (kind !== 'pooled') args.push('--pool-size', '0');
  if (kind === 'idle') args.push('--max-sessions', String(IDLE + 1));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dataDir,
    SANDBOX_MCP_LOG_LEVEL: 'error',
    ...(backend === 'docker' ? engineEnv : {}),
  };
  const client = new Client({ name: 'bench-docker', version: '1' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
  return { name, backend, pooled: kind === 'pooled', dataDir, client };
}

async function sc(s: Server, name: string, args: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await s.client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${s.name} ${name}: ${JSON.stringify(r.content).slice(0, 300)}`);
  return r.structuredContent as Record<string, any>;
}

interface Sample {
  ms: number;
  handoutMs: number;
  fromPool: boolean;
}

/** create_session plus `1 + 1`, timed (and the hand-out alone); then, untimed, whether the box was pooled. */
async function createFirst(s: Server): Promise<Sample> {
  const t = performance.now();
  const session = await sc(s, 'create_session', {});
  const handoutMs = performance.now() - t;
  const r = await sc(s, 'execute', { code: '1 + 1', session_id: session.session_id });
  const ms = performance.now() - t;
  if (r.result?.['text/plain'] !== '2')
    throw new Error(`${s.name}: the first execute gave ${JSON.stringify(r)}`);
  const age = Number((await sc(s, 'execute', { code: KERNEL_AGE, session_id: session.session_id })).stdout);
  await sc(s, 'close_session', { session_id: session.session_id });
  return { ms, handoutMs, fromPool: age > ms / 1000 };
}

interface SideResult {
  create_first_ms: Summary & { p90: number };
  handout_ms: Summary;
  /** Pooled sides: samples whose box was not pooled (left out of the figures above). */
  pool_misses?: number;
}

function withP90(samples: number[]): Summary & { p90: number } {
  const p90 = percentile(
    [...samples].sort((a, b) => a - b),
    90,
  );
  return { ...summarize(samples), p90: Math.round(p90 * 1000) / 1000 };
}

/** Every side once per round, in a rotating order; pooled sides count only samples their pool served. */
async function timeRounds(servers: Server[]): Promise<Record<string, SideResult>> {
  for (const s of servers) await createFirst(s); // a first start of each (the image checked, the caches warm)
  const samples = new Map<string, Sample[]>(servers.map((s) => [s.name, []]));
  const misses = new Map<string, number>(servers.map((s) => [s.name, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    await new Promise((r) => setTimeout(r, pauseMs));
    for (let k = 0; k < servers.length; k++) {
      const s = servers[(round + k) % servers.length]!;
      const sample = await createFirst(s);
      if (s.pooled && !sample.fromPool) {
        misses.set(s.name, misses.get(s.name)! + 1);
        pauseMs = Math.min(pauseMs + 1000, 10_000);
        continue;
      }
      samples.get(s.name)!.push(sample);
    }
  }
  return Object.fromEntries(
    servers.map((s) => {
      const got = samples.get(s.name)!;
      const r: SideResult = {
        create_first_ms: withP90(got.map((x) => x.ms)),
        handout_ms: summarize(got.map((x) => x.handoutMs)),
      };
      if (s.pooled) r.pool_misses = misses.get(s.name)!;
      return [s.name, r];
    }),
  );
}

/** IDLE sessions' boxes on each backend (no pool, a first execute each, then a second of quiet), per box. */
async function idleMemory(
  servers: Server[],
  engine: Engine,
): Promise<Record<Backend, { boxes: BoxMemory[]; mean: BoxMemory }>> {
  const out = {} as Record<Backend, { boxes: BoxMemory[]; mean: BoxMemory }>;
  for (const s of servers) {
    const ids: string[] = [];
    for (let i = 0; i < IDLE; i++) {
      const id = (await sc(s, 'create_session', {})).session_id as string;
      await sc(s, 'execute', { code: '1', session_id: id });
      ids.push(id);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const boxes: BoxMemory[] = [];
    for (const id of ids)
      boxes.push(
        s.backend === 'docker'
          ? await dockerBoxMemory(engine, dockerInstance(s.dataDir), id)
          : bwrapBoxMemory(id),
      );
    const avg = (f: (b: BoxMemory) => number | null) => {
      const v = boxes.map(f);
      return v.some((x) => x === null)
        ? null
        : Math.round(((v as number[]).reduce((a, b) => a + b, 0) / v.length) * 10) / 10;
    };
    out[s.backend] = {
      boxes,
      mean: {
        usageMb: avg((b) => b.usageMb)!,
        workingSetMb: avg((b) => b.workingSetMb)!,
        rssMb: avg((b) => b.rssMb),
      },
    };
  }
  return out;
}

export async function runDocker(): Promise<void> {
  const found = await benchEngine();
  if ('skip' in found) {
    console.log(`docker bench: not run: ${found.skip}`);
    return;
  }
  const { engine, env } = found;
  console.log(
    `docker bench: engine ${engine.endpoint.host} (${engine.facts.serverVersion}); preparing the box image`,
  );
  prepareBoxImage(CLI, env);
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-docker-'));
  const servers: Server[] = [];
  try {
    const load = [loadavg()[0]!];
    for (const backend of ['bwrap', 'docker'] as const)
      for (const kind of ['cold', 'pooled'] as const)
        servers.push(await startServer(backend, kind, dir, env));
    const sides = await timeRounds(servers);
    for (const s of servers.splice(0)) await s.client.close();
    // Memory: one server per backend, no pool, room for the idle sessions.
    for (const backend of ['bwrap', 'docker'] as const)
      servers.push(await startServer(backend, 'idle', dir, env));
    const memory = await idleMemory(servers, engine);
    load.push(loadavg()[0]!);

    const p50 = (side: string) => tagged(sides[side]!.create_first_ms.p50, 'create-first rounds');
    const ratios = {
      docker_pooled_over_bwrap_pooled: interleavedRatio(p50('docker pooled'), p50('bwrap pooled')),
      docker_cold_over_bwrap_cold: interleavedRatio(p50('docker cold'), p50('bwrap cold')),
      docker_pooled_over_docker_cold: interleavedRatio(p50('docker pooled'), p50('docker cold')),
    };
    const targets = {
      docker_pooled_create_first_execute_p50_within_1000ms:
        sides['docker pooled']!.create_first_ms.p50 <= TARGET_POOLED_MS,
    };
    const out = {
      machine: {
        cpus: availableParallelism(),
        node: process.version,
        load_average: load,
        engine: {
          host: engine.endpoint.host,
          version: engine.facts.serverVersion,
          cgroup: engine.facts.cgroupVersion,
        },
      },
      rounds: ROUNDS,
      create_plus_first_execute: sides,
      idle_memory_per_session_mb: memory,
      ratios,
      targets,
    };
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench', 'docker.json'), JSON.stringify(out, null, 2));
    printDocker(out);
  } finally {
    for (const s of servers) await s.client.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function printDocker(out: {
  create_plus_first_execute: Record<string, SideResult>;
  idle_memory_per_session_mb: Record<Backend, { mean: BoxMemory }>;
  ratios: Record<string, number>;
  targets: Record<string, boolean>;
}): void {
  console.log(
    table(
      Object.entries(out.create_plus_first_execute).map(([side, r]) => ({
        'create_session + first execute': side,
        p50: String(r.create_first_ms.p50),
        p90: String(r.create_first_ms.p90),
        'hand-out p50': String(r.handout_ms.p50),
        n: String(r.create_first_ms.n),
        'pool misses': String(r.pool_misses ?? ''),
      })),
    ),
  );
  console.log(
    table(
      Object.entries(out.idle_memory_per_session_mb).map(([backend, m]) => ({
        'idle box (MB)': backend,
        'cgroup usage': String(m.mean.usageMb),
        'working set': String(m.mean.workingSetMb),
        'processes RSS': String(m.mean.rssMb ?? 'n/a'),
      })),
    ),
  );
  console.log(
    table(
      Object.entries({ ...out.ratios, ...out.targets }).map(([k, v]) => ({ check: k, value: String(v) })),
    ),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runDocker();
