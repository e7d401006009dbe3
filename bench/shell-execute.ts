// shell_execute round trips (`echo hi` on a warm session, v2 SDK client over stdio), this build beside an older one
// when given (BENCH_SHELL_BEFORE=<old dist>), interleaved in rotating blocks: what starting each command under its
// reaper costs (JSON + table, .bench/shell-execute.json).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { interleavedRatio, summarize, table, tagged, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BEFORE = process.env.BENCH_SHELL_BEFORE ? resolve(process.env.BENCH_SHELL_BEFORE) : undefined;
const ROUNDS = Number(process.env.BENCH_N ?? 20);
const BLOCK = 6;

interface Side {
  name: string;
  client: Client;
  session: string;
  samples: number[];
}

async function start(name: string, dist: string, dataDir: string): Promise<Side> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(dist, 'src', 'bin', 'sandbox-mcp.js'), '--data-dir', dataDir, '--tools', 'full'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      SANDBOX_MCP_LOG_LEVEL: 'error',
    },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench-shell', version: '1' });
  await client.connect(transport);
  const created = await client.callTool({ name: 'create_session', arguments: {} });
  const session = (created.structuredContent as { session_id: string }).session_id;
  await client.callTool({ name: 'shell_execute', arguments: { command: 'true', session_id: session } });
  return { name, client, session, samples: [] };
}

export async function runShellExecute(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-shell-'));
  const sides = [await start('current', join(ROOT, 'dist'), join(dataDir, 'current'))];
  if (BEFORE) sides.push(await start('before', BEFORE, join(dataDir, 'before')));
  const load: number[] = [loadavg()[0] ?? 0];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(round + k) % sides.length]!;
        for (let i = 0; i < BLOCK; i++) {
          const t0 = performance.now();
          await side.client.callTool({
            name: 'shell_execute',
            arguments: { command: 'echo hi', session_id: side.session },
          });
          side.samples.push(performance.now() - t0);
        }
      }
    }
  } finally {
    await Promise.all(sides.map((s) => s.client.close()));
    rmSync(dataDir, { recursive: true, force: true });
  }
  load.push(loadavg()[0] ?? 0);
  const run = `shell-${process.pid}-${Date.now()}`;
  const results: Record<string, Summary> = Object.fromEntries(
    sides.map((s) => [s.name, summarize(s.samples)]),
  );
  const ratios: Record<string, number> = {};
  if (results.before)
    ratios.current_p50_over_before_p50 = interleavedRatio(
      tagged(results.current!.p50, run),
      tagged(results.before.p50, run),
    );
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(
    join(ROOT, '.bench', 'shell-execute.json'),
    JSON.stringify({ rounds: ROUNDS, block: BLOCK, load, results, ratios }, null, 2),
  );
  console.log(`\nshell_execute("echo hi"), ms (load ${load.map((l) => l.toFixed(1)).join(' → ')})`);
  console.log(table(Object.entries(results).map(([name, s]) => ({ name, ...s }))));
  if (Object.keys(ratios).length > 0)
    console.log(table(Object.entries(ratios).map(([check, value]) => ({ check, value }))));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await runShellExecute();
