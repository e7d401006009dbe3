// Start-to-tools/list benchmark with the official SDK 1.x client: connect (spawn + initialize) and listTools (which
// compiles every output schema in the client) for both profiles on a data dir that exists (a client's usual launch)
// and the full profile's first start on a new one, against a one-tool SDK 1.x server, interleaved, plus the
// tools/list size per profile and per tool (descriptions, input and output schemas) and the CPU the client spends
// compiling the output schemas (JSON + tables, .bench/tools-list.json).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { summarize, table, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
// An older build (a copy of its dist/src) measured in the same rounds, for a before/after: its full profile.
const BEFORE = process.env.BENCH_TOOLS_LIST_BEFORE;
const NOOP = join(ROOT, 'dist', 'bench', 'noop-server-v1.js');
const ROUNDS = Number(process.env.BENCH_N ?? 15);
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  SANDBOX_MCP_LOG_LEVEL: 'error',
};

type Tool = {
  name: string;
  description?: string;
  inputSchema: unknown;
  outputSchema?: Record<string, unknown>;
};
interface Sample {
  connect: number;
  list: number;
  total: number;
  tools: Tool[];
}

async function startAndList(args: string[]): Promise<Sample> {
  const t0 = performance.now();
  const client = new Client({ name: 'bench-tools-list', version: '1' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
  const t1 = performance.now();
  const { tools } = await client.listTools();
  const t2 = performance.now();
  await client.close();
  return { connect: t1 - t0, list: t2 - t1, total: t2 - t0, tools: tools as Tool[] };
}

/**
 * The client-side part of listTools alone: compiling every output schema as SDK 1.x does (a new validator each
 * time), CPU of this process, for every side in rotating rounds so the sides are compared at the same load.
 */
function compileMs(sides: Record<string, Tool[]>): Record<string, Summary> {
  const names = Object.keys(sides);
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(i + k) % names.length]!;
      const schemas = sides[n]!.flatMap((t) => (t.outputSchema ? [structuredClone(t.outputSchema)] : []));
      const validator = new AjvJsonSchemaValidator();
      const t = process.cpuUsage();
      for (const schema of schemas) validator.getValidator(schema);
      const used = process.cpuUsage(t);
      samples[n]!.push((used.user + used.system) / 1000);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(samples[n]!)]));
}

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v ?? {}));

function sizes(tools: Tool[]) {
  const total = bytes({ tools });
  const output = tools.reduce((n, t) => n + (t.outputSchema ? bytes(t.outputSchema) : 0), 0);
  const input = tools.reduce((n, t) => n + bytes(t.inputSchema), 0);
  const description = tools.reduce((n, t) => n + bytes(t.description ?? ''), 0);
  return {
    tools: tools.length,
    bytes: total,
    approx_tokens: Math.round(total / 4),
    description_bytes: description,
    input_schema_bytes: input,
    output_schema_bytes: output,
    output_schema_share: Math.round((output / total) * 100) / 100,
  };
}

/** Each tool's share of tools/list: description, input and output schema, largest output first. */
function perTool(tools: Tool[]) {
  return tools
    .map((t) => ({
      tool: t.name,
      description: bytes(t.description ?? ''),
      input_schema: bytes(t.inputSchema),
      output_schema: t.outputSchema ? bytes(t.outputSchema) : 0,
    }))
    .sort((a, b) => b.output_schema - a.output_schema);
}

/** Runs this benchmark and prints its figures (also .bench/tools-list.json). */
export async function runToolsList(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-bench-tl-'));
  const sides = {
    noop_v1: () => [NOOP],
    // A start on the data dir of the starts before it, as a client's next launch does.
    core: () => [CLI, '--tools', 'core', '--data-dir', join(dataDir, 'c'), '--pool-size', '0'],
    full: () => [CLI, '--tools', 'full', '--data-dir', join(dataDir, 'f'), '--pool-size', '0'],
    // The very first start: a new data dir, so the database is created.
    full_first_start: (i: number) => [
      CLI,
      ...['--tools', 'full', '--data-dir', join(dataDir, `n${i}`), '--pool-size', '0'],
    ],
    full_before: () => [
      BEFORE ?? CLI,
      ...['--tools', 'full', '--data-dir', join(dataDir, 'b'), '--pool-size', '0'],
    ],
  };
  type Side = keyof typeof sides;
  const names = (Object.keys(sides) as Side[]).filter((n) => n !== 'full_before' || BEFORE);
  const samples = Object.fromEntries(names.map((n) => [n, [] as Sample[]])) as Record<
    keyof typeof sides,
    Sample[]
  >;
  try {
    // One warm-up start each (disk cache), then rounds in a rotating order, so drift hits every side alike.
    for (const n of names) await startAndList(sides[n](-1));
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const n = names[(i + k) % names.length]!;
        samples[n].push(await startAndList(sides[n](i)));
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const of = (n: keyof typeof sides, k: 'connect' | 'list' | 'total') =>
    summarize(samples[n].map((s) => s[k]));
  interface SideResult {
    connect_ms: Summary;
    list_tools_ms: Summary;
    start_to_tools_list_ms: Summary;
    client_compile_ms: Summary;
    size: ReturnType<typeof sizes>;
  }
  const compiled = compileMs(Object.fromEntries(names.map((n) => [n, samples[n][0]!.tools])));
  const side = (n: keyof typeof sides): SideResult => ({
    connect_ms: of(n, 'connect'),
    list_tools_ms: of(n, 'list'),
    start_to_tools_list_ms: of(n, 'total'),
    client_compile_ms: compiled[n]!,
    size: sizes(samples[n][0]!.tools),
  });
  const results: Partial<Record<Side, SideResult>> &
    Record<'noop_v1' | 'core' | 'full' | 'full_first_start', SideResult> = {
    noop_v1: side('noop_v1'),
    core: side('core'),
    full: side('full'),
    full_first_start: side('full_first_start'),
    ...(BEFORE ? { full_before: side('full_before') } : {}),
  };
  const ratio = (n: Side, k: 'connect_ms' | 'list_tools_ms' | 'start_to_tools_list_ms') =>
    Math.round((results[n]![k].p50 / results.noop_v1[k].p50) * 100) / 100;
  // Every ratio below compares sides measured in the same rotating rounds.
  const ratios = {
    full_start_to_list_over_noop: ratio('full', 'start_to_tools_list_ms'),
    core_start_to_list_over_noop: ratio('core', 'start_to_tools_list_ms'),
    full_first_start_to_list_over_noop: ratio('full_first_start', 'start_to_tools_list_ms'),
    full_connect_over_noop: ratio('full', 'connect_ms'),
    full_list_tools_over_noop: ratio('full', 'list_tools_ms'),
    ...(BEFORE
      ? { full_before_start_to_list_over_noop: ratio('full_before', 'start_to_tools_list_ms') }
      : {}),
  };
  const targets = { full_start_to_list_within_1_5x_noop: ratios.full_start_to_list_over_noop <= 1.5 };
  const out = {
    machine: { cpus: cpus().length, node: process.version },
    client: '@modelcontextprotocol/sdk 1.x, stdio',
    server: CLI,
    ...(BEFORE ? { before: BEFORE } : {}),
    rounds: ROUNDS,
    interleaved: true,
    results,
    full_per_tool: perTool(samples.full[0]!.tools),
    ratios,
    targets,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'tools-list.json'), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
  console.log(
    table(
      names
        .map((n) => results[n]!)
        .map((r, i) => ({
          side: names[i]!,
          tools: r.size.tools,
          'tools/list bytes': r.size.bytes,
          '≈ tokens': r.size.approx_tokens,
          'descriptions B': r.size.description_bytes,
          'input schemas B': r.size.input_schema_bytes,
          'output schemas B': `${r.size.output_schema_bytes} (${Math.round(r.size.output_schema_share * 100)}%)`,
          'connect p50 ms': r.connect_ms.p50.toFixed(1),
          'listTools p50 ms': r.list_tools_ms.p50.toFixed(1),
          'start→list p50 ms': r.start_to_tools_list_ms.p50.toFixed(1),
          'client compile CPU p50 ms': r.client_compile_ms.p50.toFixed(1),
        })),
    ),
  );
  console.log(table(out.full_per_tool.map((r) => ({ ...r }))));
  console.log(
    table(Object.entries({ ...ratios, ...targets }).map(([k, v]) => ({ check: k, value: String(v) }))),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runToolsList();
