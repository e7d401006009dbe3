// Micro-benchmark of artifact tracking (begin + end around a call) on temp workspaces, printing JSON and a table; must never touch anything but its temp folders and .bench/artifacts.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ArtifactTracker } from '../src/artifacts/tracker.js';
import { summarize, table, type Summary } from './stats.js';

/** Run after `npm run build`: node dist/bench/artifacts.js; BENCH_N scales the iteration counts. */
const SCALE = Number(process.env.BENCH_N ?? 1);

/** A realistic tree: files spread over a few levels of folders rather than one flat directory. */
function populate(root: string, files: number, bytes: number, perDir = 50): void {
  const buf = Buffer.alloc(bytes, 'x');
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${Math.floor(i / (perDir * 10))}`, `s${Math.floor(i / perDir) % 10}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.dat`), buf);
  }
}

interface Row {
  scenario: string;
  files: number;
  phase: string;
  summary: Summary;
}

async function measure(
  scenario: string,
  files: number,
  iterations: number,
  setup: (ws: string) => void,
  between?: (ws: string, i: number) => void,
): Promise<Row[]> {
  const ws = mkdtempSync(join(tmpdir(), 'bench-artifacts-'));
  try {
    setup(ws);
    const tracker = new ArtifactTracker({ workspace: ws, sessionId: 's_bench' });
    const t0 = performance.now();
    await tracker.begin();
    const firstBegin = performance.now() - t0;
    await tracker.end();
    const total: number[] = [];
    const ends: number[] = [];
    const rescans: number[] = [];
    for (let i = 0; i < iterations + 3; i++) {
      const a = performance.now();
      await tracker.begin();
      const b = performance.now();
      between?.(ws, i); // the "call": nothing, or rewriting every file
      const c = performance.now();
      const changes = await tracker.end();
      const d = performance.now();
      const expected = between ? files : 0;
      if (changes.changed.length !== expected || changes.created.length + changes.deleted.length !== 0) {
        throw new Error(
          `${scenario}: expected ${expected} changed files, got ${JSON.stringify(changes).slice(0, 200)}`,
        );
      }
      if (i < 3) continue; // warm-up
      total.push(b - a + (d - c));
      ends.push(d - c);
    }
    for (let i = 0; i < Math.max(3, Math.floor(iterations / 4)); i++) {
      const a = performance.now();
      tracker.invalidate();
      await tracker.begin();
      await tracker.end();
      rescans.push(performance.now() - a);
    }
    return [
      { scenario, files, phase: 'begin+end (per call)', summary: summarize(total) },
      { scenario, files, phase: 'end only', summary: summarize(ends) },
      { scenario, files, phase: 'begin(rescan)+end', summary: summarize(rescans) },
      { scenario, files, phase: 'first begin (cold walk)', summary: summarize([firstBegin]) },
    ];
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(
    ...(await measure('10,000 unchanged files', 10_000, Math.ceil(30 * SCALE), (ws) =>
      populate(ws, 10_000, 200),
    )),
  );
  rows.push(
    ...(await measure('1,000 unchanged files', 1_000, Math.ceil(200 * SCALE), (ws) =>
      populate(ws, 1_000, 200),
    )),
  );
  const MB = 1024 * 1024;
  const big = Buffer.alloc(MB, 'y');
  rows.push(
    ...(await measure(
      '100 changed 1 MB files',
      100,
      Math.ceil(15 * SCALE),
      (ws) => populate(ws, 100, MB, 25),
      (ws, i) => {
        // Same size, new content: only the hash can tell what changed.
        big.write(String(i).padStart(8, '0'), 0);
        for (let f = 0; f < 100; f++)
          writeFileSync(join(ws, `d0`, `s${Math.floor(f / 25) % 10}`, `f${f}.dat`), big);
      },
    )),
  );

  const target = rows.find(
    (r) => r.scenario === '1,000 unchanged files' && r.phase === 'begin+end (per call)',
  )!;
  const result = {
    node: process.version,
    timestamp: new Date().toISOString(),
    rows: rows.map((r) => ({ scenario: r.scenario, files: r.files, phase: r.phase, ...r.summary })),
    target: {
      description: 'tracking adds under 10 ms per call on 1,000 files (p50)',
      p50_ms: target.summary.p50,
      met: target.summary.p50 < 10,
    },
  };
  const outDir = resolve(import.meta.dirname, '..', '..', '.bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'artifacts.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
  console.log(
    table(
      rows.map((r) => ({
        scenario: r.scenario,
        phase: r.phase,
        n: r.summary.n,
        'p50 ms': r.summary.p50,
        'p95 ms': r.summary.p95,
        'mean ms': r.summary.mean,
      })),
    ),
  );
}

await main();
