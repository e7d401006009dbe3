// Backup benchmark: first, deduplicated and unchanged backups and a rollback of a 200 MB, 2,000-file workspace against `cp -a` as the floor (JSON + table); never works outside its temp folder. oneRun() also serves the A/B (backups-ab.ts).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BackupService } from '../src/backups/service.js';
import { openDb } from '../src/store/db.js';
import { table } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MB = 1024 * 1024;

/** What a run needs of a backup service build: this tree's, or an older commit's compiled apart (backups-ab.ts). */
export interface BackupBuild {
  openDb(path: string): { close(): void };
  BackupService: new (opts: { db: never; dataDir: string }) => {
    backup(
      sessionId: string,
      workspace: string,
      opts: { name: string; reason: 'manual' },
    ): Promise<{ new_bytes: number; unchanged_files_reused: number }>;
    rollback(
      sessionId: string,
      name: string,
      workspace: string,
    ): Promise<{ restored_files: number; removed_files: number }>;
    idle(): Promise<void>;
  };
}

export const currentBuild: BackupBuild = { openDb, BackupService } as unknown as BackupBuild;

export interface Size {
  files: number;
  totalMb: number;
}

export interface Row {
  step: string;
  ms: number;
  mb_s: number;
  note: string;
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  }
  return total;
}

function writeWorkspace(ws: string, { files, totalMb }: Size): number {
  // Sizes from 1 KB to ~2x the mean, so small and large files both occur; the total is totalMb.
  const mean = (totalMb * MB) / files;
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const size =
      i === files - 1
        ? totalMb * MB - bytes
        : Math.max(1024, Math.round(mean * (0.05 + (1.9 * ((i * 7919) % 1000)) / 1000)));
    const dir = join(ws, `d${i % 40}`, `s${i % 7}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.bin`), randomBytes(Math.max(0, size)));
    bytes += Math.max(0, size);
  }
  return bytes;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * One full run in a fresh temp folder: the `cp -a` floors, three backups (first, deduplicated after a touch,
 * unchanged), then a rollback over changed, deleted and added files, and the old tree's removal after its answer.
 */
export async function oneRun(build: BackupBuild, size: Size): Promise<Row[]> {
  const base = mkdtempSync(join(tmpdir(), 'sbx-bench-backups-'));
  try {
    const dataDir = join(base, 'data');
    const ws = join(dataDir, 'sessions', 's_bench', 'workspace');
    mkdirSync(ws, { recursive: true });
    const bytes = writeWorkspace(ws, size);
    const mb = bytes / MB;
    const rate = (ms: number): number => Math.round((mb / (ms / 1000)) * 10) / 10;
    execFileSync('sync');

    const cp = await timed(() => execFileSync('cp', ['-a', ws, join(base, 'cp-a')]));
    const cpSync = await timed(() => {
      execFileSync('cp', ['-a', ws, join(base, 'cp-a-sync')]);
      execFileSync('sync', ['-f', join(base, 'cp-a-sync')]);
    });
    rmSync(join(base, 'cp-a'), { recursive: true });
    rmSync(join(base, 'cp-a-sync'), { recursive: true });

    const db = build.openDb(join(dataDir, 'sandbox.db'));
    const svc = new build.BackupService({ db: db as never, dataDir });
    const first = await timed(() => svc.backup('s_bench', ws, { name: 'first', reason: 'manual' }));
    // Same bytes, new timestamps: the second backup must read and hash everything, and store nothing new.
    const touched = new Date(Date.now() - 60_000);
    for (const e of readdirSync(ws, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) utimesSync(join(e.parentPath, e.name), touched, touched);
    }
    // Let the new ctimes age past the window in which a stat match is not trusted (see read-file.ts).
    await new Promise((r) => setTimeout(r, 1100));
    const second = await timed(() => svc.backup('s_bench', ws, { name: 'second', reason: 'manual' }));
    const third = await timed(() => svc.backup('s_bench', ws, { name: 'third', reason: 'manual' }));
    const blobBytes = duBytes(join(dataDir, 'blobs', 'sha256'));

    // Change a tenth of the files, delete 100 and add 100, then roll back to the first backup.
    const files = readdirSync(ws, { withFileTypes: true, recursive: true }).filter((e) => e.isFile());
    files.forEach((e, i) => {
      const p = join(e.parentPath, e.name);
      if (i % 10 === 0) writeFileSync(p, randomBytes(statSync(p).size));
      else if (i % 20 === 1) unlinkSync(p);
    });
    for (let i = 0; i < 100; i++) writeFileSync(join(ws, `new${i}.bin`), randomBytes(10_000));
    const rb = await timed(() => svc.rollback('s_bench', 'first', ws));
    // The replaced tree is deleted after the rollback answers; waited for here so it never overlaps the next step.
    const trash = await timed(() => svc.idle());
    db.close();

    if (first.value.new_bytes !== bytes || second.value.new_bytes !== 0)
      throw new Error('deduplication failed');
    return [
      { step: 'cp -a (floor)', ms: cp.ms, mb_s: rate(cp.ms), note: 'no fsync' },
      { step: 'cp -a + sync -f (floor)', ms: cpSync.ms, mb_s: rate(cpSync.ms), note: 'durable' },
      {
        step: 'first backup',
        ms: first.ms,
        mb_s: rate(first.ms),
        note: `${Math.round(first.value.new_bytes / MB)} MB new blobs`,
      },
      {
        step: 'second backup (dedup)',
        ms: second.ms,
        mb_s: rate(second.ms),
        note: `${second.value.unchanged_files_reused} files by stat, ${second.value.new_bytes} B new`,
      },
      {
        step: 'third backup (unchanged)',
        ms: third.ms,
        mb_s: rate(third.ms),
        note: `${third.value.unchanged_files_reused} files by stat`,
      },
      {
        step: 'rollback',
        ms: rb.ms,
        mb_s: rate(rb.ms),
        note: `${rb.value.restored_files} restored, ${rb.value.removed_files} removed, incl. pre_rollback backup`,
      },
      {
        step: 'old tree removal (after the answer)',
        ms: trash.ms,
        mb_s: rate(trash.ms),
        note: 'background, awaited',
      },
      {
        step: 'blob store after 3 backups',
        ms: 0,
        mb_s: 0,
        note: `${Math.round(blobBytes / MB)} MB for ${Math.round(mb)} MB x3`,
      },
    ];
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const size = {
    files: Number(process.env.BENCH_FILES ?? 2000),
    totalMb: Number(process.env.BENCH_MB ?? 200),
  };
  const RUNS = Number(process.env.BENCH_RUNS ?? 3);
  const runs: Row[][] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await oneRun(currentBuild, size));
  const summary = runs[0]!.map((row, i) => {
    const ms = median(runs.map((r) => r[i]!.ms));
    return {
      step: row.step,
      median_ms: Math.round(ms),
      median_mb_s: median(runs.map((r) => r[i]!.mb_s)),
      runs_ms: runs.map((r) => Math.round(r[i]!.ms)),
      note: row.note,
    };
  });
  const result = {
    files: size.files,
    total_mb: size.totalMb,
    runs: RUNS,
    cpus: (await import('node:os')).cpus().length,
    steps: summary,
  };
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'backups.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
  console.log(
    table(
      summary
        .filter((s) => s.median_ms > 0)
        .map((s) => ({
          step: s.step,
          'median ms': s.median_ms,
          'MB/s': s.median_mb_s,
          runs: s.runs_ms.join(' / '),
          note: s.note,
        })),
    ),
  );
  console.log(summary.at(-1)!.note);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
