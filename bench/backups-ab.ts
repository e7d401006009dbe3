// Backup A/B: this tree's backup service against a baseline commit's (compiled apart at bench time), runs interleaved in one process, ratios new/old checked against 1.2; writes .bench/backups-ab.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { currentBuild, median, oneRun, type BackupBuild, type Row, type Size } from './backups.js';
import { table } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** The last commit before the descriptor-based file layer (src/fsafe/); its backup code is that of 467dec0's parent. */
const BASELINE = process.env.BENCH_AB_BASE ?? '3a7a472f090b4648b8554f3b2d40f958a32a5140';
/** Pairs of runs (one of each build, order alternating per pair). */
const PAIRS = Number(process.env.BENCH_AB_PAIRS ?? 5);
const SIZE: Size = {
  files: Number(process.env.BENCH_AB_FILES ?? 2000),
  totalMb: Number(process.env.BENCH_AB_MB ?? 100),
};
const TARGET = 1.2;
/** The steps whose ratio is checked: backup and rollback throughput, and the removal of the tree a rollback replaced. */
const CHECKED = [
  'first backup',
  'second backup (dedup)',
  'third backup (unchanged)',
  'rollback',
  'old tree removal (after the answer)',
];

export type AbReport =
  | { skipped: string; baseline: string }
  | {
      baseline: string;
      files: number;
      total_mb: number;
      pairs: number;
      build_ms: number;
      steps: Array<{
        step: string;
        new_median_ms: number;
        old_median_ms: number;
        new_mb_s: number;
        old_mb_s: number;
        ratio: number;
        paired_ratio_median: number;
        new_runs_ms: number[];
        old_runs_ms: number[];
        checked: boolean;
        within_target: boolean | null;
      }>;
      within_target: boolean;
    };

function git(args: string[]): string {
  return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why the baseline cannot be had from this checkout, or null when it can. */
function unavailable(): string | null {
  if (!(PAIRS >= 1)) return `BENCH_AB_PAIRS is ${process.env.BENCH_AB_PAIRS}`;
  try {
    git(['rev-parse', '--git-dir']);
  } catch {
    return 'not a git checkout (or no git)';
  }
  try {
    git(['cat-file', '-e', `${BASELINE}^{commit}`]);
    return null;
  } catch {
    const shallow = (() => {
      try {
        return git(['rev-parse', '--is-shallow-repository']).trim() === 'true';
      } catch {
        return false;
      }
    })();
    return `commit ${BASELINE} is not in this clone${shallow ? ' (a shallow clone: git fetch --unshallow)' : ''}`;
  }
}

/**
 * The baseline's backup service: its src/ exported by `git archive` (the repository's index and work tree are not
 * touched) into a temp folder, compiled with this tree's tsc (only what service.ts and db.ts import), the repository's
 * node_modules linked in, and imported.
 */
async function buildBaseline(dir: string): Promise<BackupBuild> {
  const tar = join(dir, 'src.tar');
  git(['archive', '--format=tar', '-o', tar, BASELINE, 'src', 'tsconfig.json']);
  execFileSync('tar', ['-xf', tar, '-C', dir]);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(
    join(dir, 'tsconfig.bench.json'),
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { rootDir: '.', outDir: 'dist', sourceMap: false, declaration: false, noCheck: true },
      files: ['src/backups/service.ts', 'src/store/db.ts'],
      include: [],
    }),
  );
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const svc = (await import(pathToFileURL(join(dir, 'dist', 'src', 'backups', 'service.js')).href)) as {
    BackupService: BackupBuild['BackupService'];
  };
  const db = (await import(pathToFileURL(join(dir, 'dist', 'src', 'store', 'db.js')).href)) as {
    openDb: BackupBuild['openDb'];
  };
  return { BackupService: svc.BackupService, openDb: db.openDb };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export async function runBackupsAb(): Promise<AbReport> {
  const reason = unavailable();
  if (reason !== null) return { skipped: reason, baseline: BASELINE };
  const dir = mkdtempSync(join(tmpdir(), 'sbx-bench-ab-'));
  try {
    const t0 = performance.now();
    let old: BackupBuild;
    try {
      old = await buildBaseline(dir);
    } catch (err) {
      const e = err as Error & { stderr?: Buffer | string; stdout?: Buffer | string };
      const detail = String(e.stdout ?? '') + String(e.stderr ?? '') || e.message;
      return { skipped: `the baseline did not build: ${detail.trim().slice(0, 500)}`, baseline: BASELINE };
    }
    const buildMs = Math.round(performance.now() - t0);
    // A small untimed run of each first, so neither side pays for loading and compiling its code in the timed runs.
    const warm: Size = { files: 1000, totalMb: 5 };
    await oneRun(currentBuild, warm);
    await oneRun(old, warm);
    const news: Row[][] = [];
    const olds: Row[][] = [];
    for (let i = 0; i < PAIRS; i++) {
      // Alternating order (new, old; old, new; …) so drift within a pair hits both sides alike.
      if (i % 2 === 0) {
        news.push(await oneRun(currentBuild, SIZE));
        olds.push(await oneRun(old, SIZE));
      } else {
        olds.push(await oneRun(old, SIZE));
        news.push(await oneRun(currentBuild, SIZE));
      }
    }
    const steps = news[0]!
      .map((row, k) => {
        const n = news.map((r) => r[k]!);
        const o = olds.map((r) => r[k]!);
        const newMs = median(n.map((r) => r.ms));
        const oldMs = median(o.map((r) => r.ms));
        const ratio = oldMs > 0 ? round2(newMs / oldMs) : 0;
        const checked = CHECKED.includes(row.step);
        return {
          step: row.step,
          new_median_ms: Math.round(newMs),
          old_median_ms: Math.round(oldMs),
          new_mb_s: median(n.map((r) => r.mb_s)),
          old_mb_s: median(o.map((r) => r.mb_s)),
          ratio,
          paired_ratio_median: round2(median(n.map((r, i) => r.ms / o[i]!.ms))),
          new_runs_ms: n.map((r) => Math.round(r.ms)),
          old_runs_ms: o.map((r) => Math.round(r.ms)),
          checked,
          within_target: checked ? ratio <= TARGET : null,
        };
      })
      .filter((s) => s.old_median_ms > 0);
    return {
      baseline: BASELINE,
      files: SIZE.files,
      total_mb: SIZE.totalMb,
      pairs: PAIRS,
      build_ms: buildMs,
      steps,
      within_target: steps.every((s) => s.within_target !== false),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printBackupsAb(report: AbReport): void {
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'backups-ab.json'), JSON.stringify(report, null, 2));
  if ('skipped' in report) {
    console.log(`backups A/B skipped: ${report.skipped}`);
    return;
  }
  console.log(
    `backups A/B: this tree (new) against ${report.baseline.slice(0, 7)} (old), ${report.files} files, ` +
      `${report.total_mb} MB, ${report.pairs} interleaved pairs (baseline built in ${report.build_ms} ms)`,
  );
  console.log(
    table(
      report.steps.map((s) => ({
        step: s.step,
        'new ms': s.new_median_ms,
        'old ms': s.old_median_ms,
        'new MB/s': s.new_mb_s,
        'old MB/s': s.old_mb_s,
        'new/old': s.ratio,
        'paired new/old': s.paired_ratio_median,
        [`≤ ${TARGET}`]: s.within_target === null ? '' : s.within_target ? 'yes' : 'NO',
        'new runs': s.new_runs_ms.join(' / '),
        'old runs': s.old_runs_ms.join(' / '),
      })),
    ),
  );
  console.log(
    `backup and rollback (with the replaced tree's removal) within ${TARGET}x of ${report.baseline.slice(0, 7)}: ` +
      String(report.within_target),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  printBackupsAb(await runBackupsAb());
}
