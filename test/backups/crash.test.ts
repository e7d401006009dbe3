// Crash safety of rollback: a child running the compiled rollback is SIGKILLed at named steps and random moments; after recover() the workspace must be exactly the old or the backup tree.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileBackups } from './build.js';
import { makeEnv, randomFile, treeMap, writeTree, type Env } from './helpers.js';

const SID = 's_test';
const CHILD = resolve(import.meta.dirname, 'rollback-child.mjs');
let build = '';
let dispose = (): void => undefined;

beforeAll(() => {
  ({ root: build, dispose } = compileBackups());
}, 120_000);
afterAll(() => dispose());

interface Case {
  env: Env;
  /** The backup's tree: what a finished rollback must produce. */
  backupTree: Record<string, string>;
  /** The workspace before the rollback. */
  oldTree: Record<string, string>;
  inode: number;
}

async function prepare(): Promise<Case> {
  const env = makeEnv();
  const spec: Record<string, string | Buffer | { link: string } | { mode: number; data: string }> = {};
  for (let d = 0; d < 6; d++)
    for (let f = 0; f < 25; f++) spec[`dir${d}/sub/f${f}.bin`] = randomFile(2000 + f);
  for (let f = 0; f < 20; f++) spec[`top${f}.txt`] = `top file ${f}`;
  Object.assign(spec, {
    'pkg/mod.py': 'X = 1',
    link: { link: 'top0.txt' },
    'run.sh': { mode: 0o755, data: '#!/bin/sh' },
    empty: '',
  });
  writeTree(env.workspace, spec);
  await env.service.backup(SID, env.workspace, { name: 'target', reason: 'manual' });
  const backupTree = treeMap(env.workspace);

  // The "old" state: changed, deleted and new entries at the top and deep down, plus excluded folders.
  rmSync(join(env.workspace, 'dir5'), { recursive: true });
  for (let f = 0; f < 20; f += 2) unlinkSync(join(env.workspace, `top${f}.txt`));
  writeTree(env.workspace, {
    'dir0/sub/f0.bin': 'changed',
    'pkg/mod.py': 'X = 2',
    'pkg/__pycache__/mod.pyc': 'compiled',
    '.venv/lib/python3/site.py': 'environment',
    'new-top.txt': 'new',
    ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`newdir${i}/x.txt`, `new ${i}`])),
  });
  const oldTree = treeMap(env.workspace);
  return { env, backupTree, oldTree, inode: statSync(env.workspace).ino };
}

function killedChild(env: Env, mode: 'rollback' | 'recover', faultAt: string): void {
  const r = runChild(env, mode, faultAt);
  expect(r.signal, `${faultAt}: status ${r.status}, stderr: ${r.stderr}`).toBe('SIGKILL');
}

function runChild(
  env: Env,
  mode: 'rollback' | 'recover',
  faultAt?: string,
): { signal: NodeJS.Signals | null; status: number | null; stderr: string } {
  const args = [CHILD, build, env.dataDir, mode, SID, 'target', env.workspace];
  const r = spawnSync(process.execPath, args, {
    env: { ...process.env, SANDBOX_MCP_FAULT_AT: faultAt ?? '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { signal: r.signal, status: r.status, stderr: r.stderr };
}

/**
 * Runs a rollback in a child and SIGKILLs it killAfterMs after the child starts the rollback (null: never). Answers how
 * it ended and how long the rollback ran.
 */
async function rollbackInChild(
  env: Env,
  killAfterMs: number | null,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; rollbackMs: number }> {
  const args = [CHILD, build, env.dataDir, 'rollback', SID, 'target', env.workspace];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let began = performance.now();
  let timer: NodeJS.Timeout | undefined;
  // the child's first line says it is starting the rollback
  child.stdout.once('data', () => {
    began = performance.now();
    if (killAfterMs !== null) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
    child.on('exit', (...end) => res(end)),
  );
  clearTimeout(timer);
  return { code, signal, rollbackMs: performance.now() - began };
}

/** After recovery: exactly one of the two trees, excluded folders intact, nothing half-done left over. */
async function expectWhole(c: Case, expected: 'old' | 'backup' | 'either'): Promise<'old' | 'backup'> {
  const restarted = c.env.reopen();
  const report = await restarted.recover();
  expect(report.failed).toEqual([]);
  await restarted.idle(); // trash, temp files and unreferenced blobs are deleted in the background
  const now = treeMap(c.env.workspace);
  const which = JSON.stringify(now) === JSON.stringify(c.backupTree) ? 'backup' : 'old';
  if (expected === 'either') expect([c.backupTree, c.oldTree]).toContainEqual(now);
  else expect(now).toEqual(expected === 'backup' ? c.backupTree : c.oldTree);
  expect(readFileSync(join(c.env.workspace, '.venv/lib/python3/site.py'), 'utf8')).toBe('environment');
  expect(readFileSync(join(c.env.workspace, 'pkg/__pycache__/mod.pyc'), 'utf8')).toBe('compiled');
  expect(statSync(c.env.workspace).ino).toBe(c.inode);
  expect(readdirSync(join(c.env.workspace, '..')).filter((n) => n.startsWith('.rollback'))).toEqual([]);
  expect(readdirSync(join(c.env.dataDir, 'blobs', 'tmp'))).toEqual([]);
  expect(readdirSync(join(c.env.dataDir, 'trash'))).toEqual([]);
  const pending = c.env.db.prepare("SELECT COUNT(*) AS n FROM backups WHERE status = 'pending'").get() as {
    n: number;
  };
  expect(pending.n).toBe(0);
  expect((c.env.db.prepare('SELECT COUNT(*) AS n FROM backup_rollbacks').get() as { n: number }).n).toBe(0);
  expect((await c.env.service.verify(SID, 'target')).ok).toBe(true);
  return which;
}

/** A finished rollback must be undoable: its pre_rollback backup brings the old tree back. */
async function expectUndoable(c: Case): Promise<void> {
  const pre = (await c.env.service.list(SID)).find((b) => b.reason === 'pre_rollback');
  expect(pre).toBeDefined();
  await c.env.service.rollback(SID, pre!.name, c.env.workspace);
  expect(treeMap(c.env.workspace)).toEqual(c.oldTree);
}

function blobsOnDisk(env: Env): string[] {
  const root = join(env.dataDir, 'blobs', 'sha256');
  return readdirSync(root).flatMap((shard) => readdirSync(join(root, shard)).map((rest) => shard + rest));
}

let current: Case | null = null;
afterEach(() => {
  current?.env.cleanup();
  current = null;
});

describe('rollback survives SIGKILL at every step', () => {
  const points: Array<[string, 'old' | 'backup']> = [
    ['rollback:staging_mid', 'old'],
    ['rollback:after_staging', 'old'],
    ['backup:after_first_flush', 'old'], // inside the pre_rollback backup
    ['rollback:after_pre_backup', 'old'],
    ['rollback:after_journal', 'backup'],
    ['rollback:evict_mid', 'backup'],
    ['rollback:after_evict', 'backup'],
    ['rollback:install_mid', 'backup'],
    ['rollback:before_commit', 'backup'],
    ['rollback:after_commit', 'backup'],
    ['rollback:after_trash', 'backup'],
  ];
  for (const [point, expected] of points) {
    it(`killed at ${point} → ${expected} tree after recover()`, async () => {
      const c = (current = await prepare());
      killedChild(c.env, 'rollback', point);
      await expectWhole(c, expected);
      if (expected === 'backup') await expectUndoable(c);
    });
  }

  it('finishes a rollback whose recovery was itself killed twice', { timeout: 120_000 }, async () => {
    const c = (current = await prepare());
    killedChild(c.env, 'rollback', 'rollback:evict_mid');
    killedChild(c.env, 'recover', 'recover:evict_mid');
    killedChild(c.env, 'recover', 'recover:install_mid');
    await expectWhole(c, 'backup');
    await expectUndoable(c);
  });

  it('completes normally in a child when no fault is set', async () => {
    const c = (current = await prepare());
    const r = runChild(c.env, 'rollback');
    expect(r.status, r.stderr).toBe(0);
    expect(treeMap(c.env.workspace)).toEqual(c.backupTree);
    await expectWhole(c, 'backup');
  });

  it('is never half-applied when killed at random moments, before the swap and after it', async () => {
    // Kills land at random moments of the rollback itself (timed from when the child starts it, so a slow start-up
    // under load moves nothing), first over a window a little longer than an undisturbed rollback takes now. Runs go
    // on until kills have landed both before the swap (old tree) and after it (backup tree), within a bound; once the
    // window has been covered, a side not yet hit is aimed at: between the latest kill that hit the other side and the
    // window's end (or start).
    const probe = (current = await prepare());
    const first = await rollbackInChild(probe.env, null);
    expect(first.code).toBe(0);
    let end = first.rollbackMs * 1.2;
    probe.env.cleanup();
    current = null;
    const landed = { old: 0, backup: 0 };
    let latestOld = 0; // a kill this late still left the old tree
    let earliestLate = Infinity; // a kill this early already left the backup tree, or came after the end
    let runs = 0;
    for (; runs < 40 && (runs < 10 || landed.old === 0 || landed.backup === 0); runs++) {
      const aim = runs >= 10;
      const from = aim && landed.backup === 0 ? latestOld : 0;
      const to = aim && landed.old === 0 ? Math.min(earliestLate, end) : end;
      const delay = from + Math.random() * (to - from);
      const c = (current = await prepare());
      const r = await rollbackInChild(c.env, delay);
      const which = await expectWhole(c, 'either');
      if (r.signal === 'SIGKILL') landed[which]++;
      else end = r.rollbackMs * 1.2; // it finished before its kill: the window follows the pace of now
      if (which === 'old') {
        latestOld = Math.max(latestOld, delay);
        end = Math.max(end, latestOld * 1.5); // the swap is later than that: the window reaches past it
      } else earliestLate = Math.min(earliestLate, delay);
      c.env.cleanup();
      current = null;
    }
    expect(landed.old, `${runs} runs`).toBeGreaterThan(0);
    expect(landed.backup, `${runs} runs`).toBeGreaterThan(0);
  }, 300_000);
});

describe('leftovers', () => {
  it('a backup killed half-way leaves no listable backup and no unreferenced blobs after recover()', async () => {
    const c = (current = await prepare());
    writeFileSync(join(c.env.workspace, 'fresh.bin'), randomFile(5000));
    killedChild(c.env, 'rollback', 'backup:after_first_flush');
    const orphans = (): number => {
      const referenced = c.env.db
        .prepare('SELECT DISTINCT sha256 FROM backup_files WHERE sha256 IS NOT NULL')
        .all() as Array<{ sha256: string }>;
      const known = new Set(referenced.map((r) => r.sha256));
      return blobsOnDisk(c.env).filter((sha) => !known.has(sha)).length;
    };
    const restarted = c.env.reopen();
    const report = await restarted.recover();
    expect(report.pending_backups_removed).toBe(1);
    expect(orphans()).toBeGreaterThan(0); // the half-made backup's blobs, now referenced by nothing
    await restarted.idle();
    expect(orphans()).toBe(0);
    expect(blobsOnDisk(c.env).length).toBeGreaterThan(0);
    expect((await c.env.service.list(SID)).map((b) => b.name)).toEqual(['target']);
    expect(existsSync(join(c.env.workspace, 'fresh.bin'))).toBe(true);
  });

  it('a killed rollback still protects its source backup from cleanup until recover()', async () => {
    const c = (current = await prepare());
    await c.env.service.backup(SID, c.env.workspace, { name: 'newer1', reason: 'manual' });
    await c.env.service.backup(SID, c.env.workspace, { name: 'newer2', reason: 'manual' });
    killedChild(c.env, 'rollback', 'rollback:after_staging');
    const res = await c.env.service.cleanupOld(SID, 1);
    expect(res.deleted).toEqual(['newer1']);
    expect(res.kept).toEqual(['newer2', 'target']);
    const restarted = c.env.reopen();
    await restarted.recover();
    await restarted.idle();
    expect((await c.env.service.cleanupOld(SID, 1)).deleted).toEqual(['target']);
  });
});
