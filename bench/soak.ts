// Soak: thousands of executes through the real stdio server (some printing 1 KB, some 1 MB), measuring how the
// database and the data dir grow per 1,000 calls; with retention on, both level off within its settings.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { table } from './stats.js';
import { dataDirUsage } from '../src/store/data-dir-usage.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const CALLS = Number(process.env.BENCH_SOAK_N ?? 5000);
/** The soak stops early (and says so) past this many seconds, so a slow machine keeps `npm run bench` bounded. */
const MAX_S = Number(process.env.BENCH_SOAK_MAX_S ?? 300);
const HISTORY_KEEP = 1000;
const OUTPUTS_KEEP = 20;

/** Every 10th call prints 1 MB (saved to .sandbox/outputs), every 3rd prints 1 KB, the rest only assign. */
function codeFor(i: number): string {
  if (i % 10 === 0) return `print("m" * 1_000_000)`;
  if (i % 3 === 0) return `print("k" * 1_000)`;
  return `x = ${i}`;
}

function dbBytes(dataDir: string): number {
  let n = 0;
  for (const f of ['sandbox.db', 'sandbox.db-wal']) {
    try {
      n += statSync(join(dataDir, f)).size;
    } catch {
      // not there (yet)
    }
  }
  return n;
}

export interface SoakReport {
  calls: number;
  seconds: number;
  stopped_early: boolean;
  settings: { history_keep: number; outputs_keep: number };
  /** Growth in each window of 1,000 calls. */
  per_1000_calls: Array<{ calls: number; db_bytes: number; data_dir_bytes: number }>;
  final: { db_bytes: number; data_dir_bytes: number; history_rows: number; saved_outputs: number };
  within_retention: boolean;
}

export async function runSoak(): Promise<SoakReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-soak-'));
  const client = new Client({ name: 'soak', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [
        CLI,
        '--data-dir',
        dataDir,
        '--pool-size',
        '0',
        '--history-keep',
        String(HISTORY_KEEP),
        '--outputs-keep',
        String(OUTPUTS_KEEP),
      ],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        SANDBOX_MCP_LOG_LEVEL: 'error',
      },
      stderr: 'ignore',
    }),
  );
  const t0 = performance.now();
  const windows: SoakReport['per_1000_calls'] = [];
  let last = { db: dbBytes(dataDir), dir: dataDirUsage(dataDir).total_bytes };
  let sid = '';
  let done = 0;
  let stoppedEarly = false;
  try {
    for (let i = 1; i <= CALLS; i++) {
      const r = (await client.callTool({ name: 'execute', arguments: { code: codeFor(i) } }))
        .structuredContent as {
        session_id: string;
        status: string;
      };
      if (r.status !== 'ok') throw new Error(`execute ${i} ended ${r.status}`);
      sid = r.session_id;
      done = i;
      if (i % 1000 === 0) {
        const now = { db: dbBytes(dataDir), dir: dataDirUsage(dataDir).total_bytes };
        windows.push({ calls: i, db_bytes: now.db - last.db, data_dir_bytes: now.dir - last.dir });
        last = now;
      }
      if ((performance.now() - t0) / 1000 > MAX_S) {
        stoppedEarly = i < CALLS;
        break;
      }
    }
  } finally {
    await client.close();
  }
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const db = new Database(join(dataDir, 'sandbox.db'), { readonly: true });
  const historyRows = (db.prepare('SELECT count(*) AS n FROM executions').get() as { n: number }).n;
  db.close();
  let savedOutputs = 0;
  try {
    savedOutputs = readdirSync(join(dataDir, 'sessions', sid, 'workspace', '.sandbox', 'outputs')).length;
  } catch {
    // none saved
  }
  const final = {
    db_bytes: dbBytes(dataDir),
    data_dir_bytes: dataDirUsage(dataDir).total_bytes,
    history_rows: historyRows,
    saved_outputs: savedOutputs,
  };
  rmSync(dataDir, { recursive: true, force: true });
  // Past the first windows (history filling up to its count), a window of 1,000 calls adds less than 1 MiB.
  const later = windows.slice(2);
  const within =
    historyRows <= HISTORY_KEEP &&
    savedOutputs <= OUTPUTS_KEEP &&
    later.every((w) => w.db_bytes < 1 << 20 && w.data_dir_bytes < 1 << 20);
  return {
    calls: done,
    seconds,
    stopped_early: stoppedEarly,
    settings: { history_keep: HISTORY_KEEP, outputs_keep: OUTPUTS_KEEP },
    per_1000_calls: windows,
    final,
    within_retention: within,
  };
}

export function printSoak(report: SoakReport, root = ROOT): void {
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(join(root, '.bench', 'soak.json'), JSON.stringify(report, null, 2));
  const mib = (n: number) => (n / (1024 * 1024)).toFixed(2);
  console.log(
    table(
      report.per_1000_calls.map((w) => ({
        'calls so far': String(w.calls),
        'db growth MiB': mib(w.db_bytes),
        'data dir growth MiB': mib(w.data_dir_bytes),
      })),
    ),
  );
  console.log(
    table([
      {
        check: 'calls',
        value: `${report.calls} in ${report.seconds} s${report.stopped_early ? ' (stopped early)' : ''}`,
      },
      {
        check: 'history rows (keep)',
        value: `${report.final.history_rows} (${report.settings.history_keep})`,
      },
      {
        check: 'saved outputs (keep)',
        value: `${report.final.saved_outputs} (${report.settings.outputs_keep})`,
      },
      { check: 'final db MiB', value: mib(report.final.db_bytes) },
      { check: 'final data dir MiB', value: mib(report.final.data_dir_bytes) },
      { check: 'within retention', value: String(report.within_retention) },
    ]),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  printSoak(await runSoak());
}
