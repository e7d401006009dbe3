// Taking a backup: scan the workspace, hash each file (or reuse the stat cache), add new content to the blob store
// in durable batches, record the manifest, then apply retention; a failure leaves no half-made backup behind.
import { unlinkSync } from 'node:fs';
import { SandboxError, invalidArgument } from '../errors.js';
import type { BackupFileRow } from '../store/backups-repo.js';
import { Dir } from '../fsafe/dir.js';
import { DirCache } from '../fsafe/files.js';
import { workspaceReal, type BackupContext } from './context.js';
import { makeDurable } from './durability.js';
import { faultPoint } from './fault.js';
import { defaultBackupName, uniqueName, validateBackupName } from './names.js';
import { forEachLimit } from '../for-each-limit.js';
import { SkipFile, copyToBlobTemp, hashWorkspaceFile, type ReadGrant } from './read-file.js';
import { ByteBudget, formatBytes } from '../fsafe/byte-budget.js';
import { collectBlobs, keepNewest } from './retention.js';
import { scanWorkspace, type ScanEntry } from './scan.js';
import {
  BACKUP_REASONS,
  type BackupOptions,
  type BackupResult,
  type CategoryTotal,
  type SkippedEntry,
} from './types.js';

const BATCH_FILES = 256;

const BATCH_BYTES = 64 * 1024 * 1024;

interface PendingItem {
  row: BackupFileRow;
  /** A written temp blob for the row's content, or null when the store already had it. */
  tmp: string | null;
}

export interface BackupOutcome {
  result: BackupResult;
  /** The manifest as recorded, so a caller needs no second read of it. */
  rows: BackupFileRow[];
  nestedExcluded: string[];
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_CONSTRAINT');
}

function totalsOf(rows: Iterable<BackupFileRow>): Record<string, CategoryTotal> {
  const totals: Record<string, CategoryTotal> = {};
  for (const r of rows) {
    if (r.kind === 'dir') continue;
    const t = (totals[r.category ?? 'other'] ??= { files: 0, bytes: 0 });
    t.files++;
    t.bytes += r.kind === 'file' ? r.size : 0;
  }
  return totals;
}

/** Takes a backup of the workspace; `alsoKeep` names backups the retention pass after it must not delete. */
export async function takeBackup(
  ctx: BackupContext,
  sessionId: string,
  workspace: string,
  opts: BackupOptions,
  alsoKeep: readonly string[],
): Promise<BackupOutcome> {
  const t0 = performance.now();
  if (!BACKUP_REASONS.includes(opts.reason)) {
    throw invalidArgument(`invalid backup reason '${String(opts.reason)}'`, {
      allowed: [...BACKUP_REASONS],
    });
  }
  const at = ctx.now();
  let name: string;
  if (opts.name !== undefined) {
    name = validateBackupName(opts.name);
    if (ctx.repo.nameTaken(sessionId, name)) throw alreadyExists(name);
  } else {
    const base = defaultBackupName(at);
    name = uniqueName(base, new Set(ctx.repo.namesLike(sessionId, base)));
  }
  const wsReal = workspaceReal(workspace);
  const dirs = new DirCache(Dir.openPath(wsReal));
  try {
    return await backupFrom(ctx, sessionId, wsReal, dirs, name, at, opts, alsoKeep, t0);
  } finally {
    dirs.close();
    dirs.root.close();
  }
}

async function backupFrom(
  ctx: BackupContext,
  sessionId: string,
  wsReal: string,
  dirs: DirCache,
  name: string,
  at: Date,
  opts: BackupOptions,
  alsoKeep: readonly string[],
  t0: number,
): Promise<BackupOutcome> {
  const scan = scanWorkspace(dirs.root, wsReal);
  const cache = new Map(ctx.repo.statCache(sessionId).map((r) => [r.path, r]));
  const createdAt = at.toISOString();

  let id: number;
  try {
    id = ctx.repo.insertPending({
      session_id: sessionId,
      name,
      created_at: createdAt,
      reason: opts.reason,
      pid: process.pid,
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw alreadyExists(name);
    throw err;
  }
  ctx.liveBackups.add(id);
  const rows = new Map<string, BackupFileRow>();
  const skipped: SkippedEntry[] = [...scan.skipped];
  const temps = new Set<string>();
  const placed: string[] = [];
  let newBytes = 0;
  let reused = 0;
  let batch: PendingItem[] = [];
  let batchBytes = 0;
  let flushed = false;
  let chain: Promise<void> = Promise.resolve();
  const repairs: string[] = [];

  // One batch: make its temp blobs durable, record the references and move the blobs into place in one
  // IMMEDIATE transaction (see BackupsRepo.immediate), then make the renames durable.
  const writeBatch = async (items: PendingItem[]): Promise<void> => {
    const batchTemps = items.flatMap((i) => (i.tmp === null ? [] : [i.tmp]));
    await makeDurable(batchTemps, [], ctx.blobs.tmpDir, ctx.concurrency * 2);
    const touched = new Set<string>();
    ctx.repo.immediate(() => {
      ctx.repo.insertFiles(
        id,
        items.map((i) => i.row),
      );
      for (const item of items) {
        const sha = item.row.sha256;
        if (sha === null) continue;
        if (item.tmp === null) {
          // A blob seen earlier that vanished since: read the file again.
          if (!ctx.blobs.has(sha)) repairs.push(item.row.path);
          continue;
        }
        temps.delete(item.tmp);
        // Drops the temp instead when the store got the blob meanwhile (another backup wrote it).
        if (ctx.blobs.place(item.tmp, sha)) {
          newBytes += item.row.size;
          placed.push(sha);
          touched.add(ctx.blobs.shardOf(sha));
        }
      }
    });
    if (touched.size > 0) touched.add(ctx.blobs.shaRoot);
    await makeDurable([], touched, ctx.blobs.shaRoot, ctx.concurrency * 2);
    if (!flushed) {
      flushed = true;
      faultPoint('backup:after_first_flush');
    }
  };

  const flush = (): Promise<void> => {
    if (batch.length > 0) {
      const items = batch;
      batch = [];
      batchBytes = 0;
      chain = chain.then(() => writeBatch(items));
      chain.catch(() => undefined); // awaited by the caller; this only keeps a failure from going unhandled
    }
    return chain;
  };

  // Batches bound the unflushed data a barrier has to push out and the rows in one transaction.
  const add = async (item: PendingItem): Promise<void> => {
    rows.set(item.row.path, item.row);
    batch.push(item);
    batchBytes += item.tmp === null ? 0 : item.row.size;
    if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) await flush();
  };

  try {
    const { files, grants } = planBudget(ctx, scan.entries, skipped);
    const total = files.length + scan.entries.filter((e) => e.kind === 'symlink').length;
    let done = 0;
    const progress = (): void => opts.onProgress?.(++done, total);
    for (const e of scan.entries) {
      if (e.kind === 'file') continue;
      const category =
        e.kind === 'symlink' ? (await ctx.categorize(e.rel, new Uint8Array(0))).category : null;
      await add({
        row: rowOf(e, { sha256: null, size: e.size, category, stat_key: null }),
        tmp: null,
      });
      if (e.kind === 'symlink') progress();
    }
    await forEachLimit(files, ctx.concurrency, async (e) => {
      const hit = cache.get(e.rel);
      if (hit && hit.stat_key === e.statKey && hit.sha256 !== null) {
        reused++;
        const category = hit.category ?? (await ctx.categorize(e.rel, new Uint8Array(0))).category;
        await add({
          row: rowOf(e, { sha256: hit.sha256, size: hit.size, category, stat_key: e.statKey }),
          tmp: null,
        });
        progress();
        return;
      }
      const item = await ctx.scratch.with(async (buf): Promise<PendingItem | null> => {
        let hashed;
        try {
          hashed = await hashWorkspaceFile(dirs, e.rel, buf, grants.get(e.rel));
        } catch (err) {
          if (!(err instanceof SkipFile)) throw err;
          skipped.push({ path: e.rel, reason: err.message });
          return null;
        }
        const row = rowOf(e, {
          sha256: hashed.sha256,
          size: hashed.size,
          category: (await ctx.categorize(e.rel, hashed.head, hashed.size <= hashed.head.length)).category,
          stat_key: hashed.statKey,
        });
        if (ctx.blobs.has(hashed.sha256)) return { row, tmp: null };
        let tmp: string;
        if (hashed.data !== null) {
          tmp = await ctx.blobs.writeTemp(hashed.data);
        } else {
          // Large file: copied only now that we know the store lacks it; it may have changed since hashing.
          try {
            const copy = await copyToBlobTemp(dirs, e.rel, ctx.blobs, false, buf, grants.get(e.rel));
            tmp = copy.tmp;
            if (copy.sha256 !== row.sha256)
              Object.assign(row, { sha256: copy.sha256, size: copy.size, stat_key: null });
          } catch (err) {
            if (!(err instanceof SkipFile)) throw err;
            skipped.push({ path: e.rel, reason: err.message });
            return null;
          }
        }
        temps.add(tmp);
        return { row, tmp };
      });
      if (item !== null) await add(item);
      progress();
    });
    await flush();
    for (const path of repairs) {
      newBytes += await repairReused(ctx, id, dirs, path, rows, skipped, placed, grants.get(path));
    }

    const totals = totalsOf(rows.values());
    let fileCount = 0;
    let totalSize = 0;
    for (const t of Object.values(totals)) {
      fileCount += t.files;
      totalSize += t.bytes;
    }
    skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
    ctx.repo.complete(id, {
      file_count: fileCount,
      total_size: totalSize,
      skipped: JSON.stringify(skipped),
    });
    ctx.liveBackups.delete(id);
    const retention =
      ctx.maxBackups === null
        ? null
        : keepNewest(ctx, sessionId, ctx.maxBackups, { keep: [name, ...alsoKeep] });
    return {
      rows: [...rows.values()],
      nestedExcluded: scan.nestedExcluded,
      result: {
        name,
        created_at: createdAt,
        reason: opts.reason,
        file_count: fileCount,
        total_size: totalSize,
        new_bytes: newBytes,
        unchanged_files_reused: reused,
        totals,
        skipped,
        duration_ms: Math.round(performance.now() - t0),
        retention,
      },
    };
  } catch (err) {
    await chain.catch(() => undefined);
    for (const tmp of temps) {
      try {
        unlinkSync(tmp);
      } catch {
        // already placed or gone
      }
    }
    if (ctx.liveBackups.has(id)) {
      ctx.repo.deleteById(id);
      ctx.liveBackups.delete(id);
      collectBlobs(ctx, placed);
    }
    throw err;
  }
}

/**
 * The files this backup will hold: each takes its apparent size from the backup's byte budget, smallest first, so
 * the largest files are the ones left out (listed in `skipped` with the reason). Returns them in scan order, with
 * the grant each is read under (none without a budget).
 */
function planBudget(
  ctx: BackupContext,
  entries: readonly ScanEntry[],
  skipped: SkippedEntry[],
): { files: ScanEntry[]; grants: Map<string, ReadGrant> } {
  const all = entries.filter((e) => e.kind === 'file');
  const grants = new Map<string, ReadGrant>();
  if (ctx.maxBackupBytes === null) return { files: all, grants };
  const budget = new ByteBudget(ctx.maxBackupBytes);
  const bySize = [...all].sort((a, b) => a.size - b.size || (a.rel < b.rel ? -1 : 1));
  for (const e of bySize) {
    if (budget.take(e.size)) {
      grants.set(e.rel, { granted: e.size, budget });
    } else {
      skipped.push({
        path: e.rel,
        reason: `not backed up: ${formatBytes(e.size)} would pass the backup's byte budget of ${formatBytes(ctx.maxBackupBytes)} (--backup-max-mb); the largest files are left out first`,
      });
    }
  }
  return { files: all.filter((e) => grants.has(e.rel)), grants };
}

function alreadyExists(name: string): SandboxError {
  return invalidArgument(`backup '${name}' already exists; choose another name`, { name });
}

function rowOf(
  e: ScanEntry,
  content: { sha256: string | null; size: number; category: string | null; stat_key: string | null },
): BackupFileRow {
  return { path: e.rel, kind: e.kind, mode: e.mode, target: e.target, mtime_ms: e.mtimeMs, ...content };
}

/**
 * A stat-cache hit whose blob disappeared before the reference was recorded: read the file after all.
 * Returns the bytes it added to the store (0 when the blob was back by then or the file was skipped).
 */
async function repairReused(
  ctx: BackupContext,
  id: number,
  dirs: DirCache,
  path: string,
  rows: Map<string, BackupFileRow>,
  skipped: SkippedEntry[],
  placed: string[],
  grant: ReadGrant | undefined,
): Promise<number> {
  let copy;
  try {
    copy = await ctx.scratch.with((buf) => copyToBlobTemp(dirs, path, ctx.blobs, true, buf, grant));
  } catch (err) {
    if (!(err instanceof SkipFile)) throw err;
    skipped.push({ path, reason: err.message });
    rows.delete(path);
    ctx.repo.immediate(() => ctx.repo.deleteFile(id, path));
    return 0;
  }
  const { tmp, sha256, size } = copy;
  let added = 0;
  ctx.repo.immediate(() => {
    ctx.repo.updateFileContent(id, path, sha256, size);
    if (ctx.blobs.place(tmp, sha256)) {
      placed.push(sha256);
      added = size;
    }
  });
  await makeDurable([], [ctx.blobs.shardOf(sha256), ctx.blobs.shaRoot], ctx.blobs.shaRoot);
  const row = rows.get(path);
  if (row) Object.assign(row, { sha256, size, stat_key: null });
  return added;
}
