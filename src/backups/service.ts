// The backups service: versioned, deduplicated workspace backups and rollback; never runs sandboxed code, builds MCP content, or deletes a blob a manifest references.

// Crash safety of rollback. The workspace folder is the source of the box's bind mount: renaming it would leave a
// running box on the old inode (its Python would keep seeing the old files). So the rollback swaps the folder's
// CONTENTS, entry by entry, and the folder keeps its inode:
//   1. stage: the backup's tree is built in <session root>/.rollback-staging (a sibling of the workspace, on the
//      same filesystem, invisible to the box) from the blobs, re-hashing every byte, so a damaged backup is
//      refused before anything else happens; then it is made durable;
//   2. a pre_rollback backup of the current state is taken, so the rollback itself can be undone;
//   3. commit point: <session root>/.rollback-journal.json is written atomically (temp, fsync, rename, fsync);
//   4. swap with rename(2) only: every top-level entry except the excluded ones (.venv, .cache, __pycache__)
//      moves to .rollback-old, the journal records that this phase is done, every staged entry moves in, and
//      excluded folders nested in restored folders (pkg/__pycache__) move back; then the journal is deleted;
//   5. .rollback-old is renamed to a trash folder and deleted after the caller has its answer.
// A crash before 3 leaves the workspace untouched (recover() deletes the staging folder); a crash after 3 is
// rolled forward by recover(), which redoes the remaining steps of 4 (each is idempotent). Either way the
// workspace ends entirely in the old state or entirely in the backup's. A row in backup_rollbacks, written
// before step 1, tells recover() which session roots to look at. The running Python keeps working, so
// python_restarted_required is false; modules it already imported are not reloaded. Callers should run a
// rollback while no code runs in the box (the session's queue): a file written into the workspace during
// the swap is moved out with the old entries.
import { mkdirSync, readdirSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { categorize as categorizeArtifact } from '../artifacts/categorize.js';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { workspaceSegments } from '../policy/paths.js';
import type { Db } from '../store/db.js';
import {
  BackupsRepo,
  type BackupFileRow,
  type BackupRow,
  type RollbackMarkerRow,
} from '../store/backups-repo.js';
import { BlobStore, fsyncDir } from './blob-store.js';
import { diffEntries, type ComparableEntry } from './diff.js';
import { makeDurable } from './durability.js';
import { faultPoint } from './fault.js';
import { defaultBackupName, uniqueName, validateBackupName } from './names.js';
import { forEachLimit } from './pool.js';
import { SCRATCH_BYTES, SkipFile, copyToBlobTemp, hashWorkspaceFile } from './read-file.js';
import { ScratchPool } from './scratch.js';
import { scanWorkspace, type ScanEntry } from './scan.js';
import { materializeFile, materializeSymlink, stageManifest } from './stage.js';
import {
  completeSwap,
  readJournal,
  moveOldToTrash,
  removeLeftovers,
  rollbackPaths,
  writeJournal,
  type RollbackJournal,
} from './swap.js';
import { removeTree } from '../fsafe/remove.js';
import { Dir, withDir, workspaceOwner } from '../fsafe/dir.js';
import { withFrozenBox } from '../sandbox/freezer.js';
import { DirCache } from '../fsafe/files.js';
import {
  BACKUP_REASONS,
  type BackupDetails,
  type BackupOptions,
  type BackupResult,
  type BackupSummary,
  type CategorizeFn,
  type CategoryDetails,
  type CategoryTotal,
  type CleanupOptions,
  type CleanupResult,
  type DiffResult,
  type ManifestItem,
  type RecoverReport,
  type RestoreFileResult,
  type RollbackOptions,
  type RollbackResult,
  type SkippedEntry,
  type VerifyResult,
} from './types.js';

export interface BackupServiceOptions {
  db: Db;
  /** The server's data dir; blobs live in <dataDir>/blobs. */
  dataDir: string;
  /** Defaults to the artifacts service's categorize, so backups and artifacts agree on categories. */
  categorize?: CategorizeFn | undefined;
  /** Retention run after every backup: newest N kept per session. null or undefined keeps everything. */
  maxBackups?: number | null | undefined;
  /** Files read, hashed or written at once. */
  concurrency?: number | undefined;
  now?: (() => Date) | undefined;
}

const NOT_FOUND_HINT = 'list_artifact_backups shows the backups of this session';
const BATCH_FILES = 256;
const BATCH_BYTES = 64 * 1024 * 1024;
/** Unreferenced blobs checked and deleted between two turns of the event loop by gc(). */
const GC_SLICE = 512;

interface PendingItem {
  row: BackupFileRow;
  /** A written temp blob for the row's content, or null when the store already had it. */
  tmp: string | null;
}

interface BackupOutcome {
  result: BackupResult;
  /** The manifest as recorded, so a caller needs no second read of it. */
  rows: BackupFileRow[];
  nestedExcluded: string[];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_CONSTRAINT');
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
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

export class BackupService {
  private readonly repo: BackupsRepo;
  private readonly blobs: BlobStore;
  private readonly categorize: CategorizeFn;
  private readonly maxBackups: number | null;
  private readonly concurrency: number;
  private readonly now: () => Date;
  /** One promise chain per session: backups, rollbacks, restores and cleanups of a session never interleave. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Rows this process is working on, so recover() never mistakes them for a dead process's leftovers. */
  private readonly liveBackups = new Set<number>();
  private readonly liveRollbacks = new Set<number>();
  /** Work that runs after the caller has its answer: deleting old trees, and recover()'s sweep. */
  private readonly pending = new Set<Promise<void>>();
  /** Trash trees being deleted by this process, so the sweep never deletes one twice at once. */
  private readonly trashing = new Set<string>();
  /** Read buffers reused across files instead of one per file; it keeps at most `concurrency` idle ones. */
  private readonly scratch: ScratchPool;
  /** Old trees of committed rollbacks wait here to be deleted; recover() empties what a dead process left. */
  private readonly trashDir: string;

  constructor(opts: BackupServiceOptions) {
    this.repo = new BackupsRepo(opts.db);
    this.blobs = new BlobStore(opts.dataDir);
    this.trashDir = join(opts.dataDir, 'trash');
    mkdirSync(this.trashDir, { recursive: true, mode: 0o700 });
    this.categorize = opts.categorize ?? categorizeArtifact;
    this.maxBackups = opts.maxBackups ?? null;
    if (this.maxBackups !== null && (!Number.isInteger(this.maxBackups) || this.maxBackups < 1)) {
      throw new Error(`maxBackups must be a whole number of at least 1, not ${this.maxBackups}`);
    }
    this.concurrency = opts.concurrency ?? 4;
    this.scratch = new ScratchPool(SCRATCH_BYTES, this.concurrency);
    this.now = opts.now ?? (() => new Date());
  }

  private serial<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(sessionId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(sessionId, tail);
    void tail.then(() => {
      if (this.chains.get(sessionId) === tail) this.chains.delete(sessionId);
    });
    return run;
  }

  private background(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves when background work (old trees, the start-up sweep) has finished (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private getBackup(sessionId: string, name: string): BackupRow {
    if (typeof name !== 'string') throw invalidArgument('backup name must be a string', { field: 'name' });
    const row = this.repo.getComplete(sessionId, name);
    if (!row) throw notFound('backup', name, NOT_FOUND_HINT);
    return row;
  }

  private workspaceReal(workspace: string): string {
    try {
      const real = realpathSync(workspace);
      if (!statSync(real).isDirectory()) throw new Error('not a folder');
      return real;
    } catch {
      throw invalidArgument(`workspace '${workspace}' is not an existing folder`, { workspace });
    }
  }

  // ---------------------------------------------------------------- backup

  backup(sessionId: string, workspace: string, opts: BackupOptions): Promise<BackupResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(sessionId, async () => (await this.backupLocked(sessionId, workspace, opts, [])).result),
    );
  }

  private async backupLocked(
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
    const at = this.now();
    let name: string;
    if (opts.name !== undefined) {
      name = validateBackupName(opts.name);
      if (this.repo.nameTaken(sessionId, name)) throw this.exists(name);
    } else {
      const base = defaultBackupName(at);
      name = uniqueName(base, new Set(this.repo.namesLike(sessionId, base)));
    }
    const wsReal = this.workspaceReal(workspace);
    const dirs = new DirCache(Dir.openPath(wsReal));
    try {
      return await this.backupFrom(sessionId, wsReal, dirs, name, at, opts, alsoKeep, t0);
    } finally {
      dirs.close();
      dirs.root.close();
    }
  }

  private async backupFrom(
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
    const cache = new Map(this.repo.statCache(sessionId).map((r) => [r.path, r]));
    const createdAt = at.toISOString();

    let id: number;
    try {
      id = this.repo.insertPending({
        session_id: sessionId,
        name,
        created_at: createdAt,
        reason: opts.reason,
        pid: process.pid,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw this.exists(name);
      throw err;
    }
    this.liveBackups.add(id);
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
      await makeDurable(batchTemps, [], this.blobs.tmpDir, this.concurrency * 2);
      const touched = new Set<string>();
      this.repo.immediate(() => {
        this.repo.insertFiles(
          id,
          items.map((i) => i.row),
        );
        for (const item of items) {
          const sha = item.row.sha256;
          if (sha === null) continue;
          if (item.tmp === null) {
            // A blob seen earlier that vanished since: read the file again.
            if (!this.blobs.has(sha)) repairs.push(item.row.path);
            continue;
          }
          temps.delete(item.tmp);
          // Drops the temp instead when the store got the blob meanwhile (another backup wrote it).
          if (this.blobs.place(item.tmp, sha)) {
            newBytes += item.row.size;
            placed.push(sha);
            touched.add(this.blobs.shardOf(sha));
          }
        }
      });
      if (touched.size > 0) touched.add(this.blobs.shaRoot);
      await makeDurable([], touched, this.blobs.shaRoot, this.concurrency * 2);
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
      const files = scan.entries.filter((e) => e.kind === 'file');
      const total = files.length + scan.entries.filter((e) => e.kind === 'symlink').length;
      let done = 0;
      const progress = (): void => opts.onProgress?.(++done, total);
      for (const e of scan.entries) {
        if (e.kind === 'file') continue;
        const category = e.kind === 'symlink' ? this.categorize(e.rel, new Uint8Array(0)).category : null;
        await add({
          row: this.rowOf(e, { sha256: null, size: e.size, category, stat_key: null }),
          tmp: null,
        });
        if (e.kind === 'symlink') progress();
      }
      await forEachLimit(files, this.concurrency, async (e) => {
        const hit = cache.get(e.rel);
        if (hit && hit.stat_key === e.statKey && hit.sha256 !== null) {
          reused++;
          const category = hit.category ?? this.categorize(e.rel, new Uint8Array(0)).category;
          await add({
            row: this.rowOf(e, { sha256: hit.sha256, size: hit.size, category, stat_key: e.statKey }),
            tmp: null,
          });
          progress();
          return;
        }
        const item = await this.scratch.with(async (buf): Promise<PendingItem | null> => {
          let hashed;
          try {
            hashed = await hashWorkspaceFile(dirs, e.rel, buf);
          } catch (err) {
            if (!(err instanceof SkipFile)) throw err;
            skipped.push({ path: e.rel, reason: err.message });
            return null;
          }
          const row = this.rowOf(e, {
            sha256: hashed.sha256,
            size: hashed.size,
            category: this.categorize(e.rel, hashed.head, hashed.size <= hashed.head.length).category,
            stat_key: hashed.statKey,
          });
          if (this.blobs.has(hashed.sha256)) return { row, tmp: null };
          let tmp: string;
          if (hashed.data !== null) {
            tmp = await this.blobs.writeTemp(hashed.data);
          } else {
            // Large file: copied only now that we know the store lacks it; it may have changed since hashing.
            try {
              const copy = await copyToBlobTemp(dirs, e.rel, this.blobs, false, buf);
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
      for (const path of repairs) newBytes += await this.repairReused(id, dirs, path, rows, skipped, placed);

      const totals = totalsOf(rows.values());
      let fileCount = 0;
      let totalSize = 0;
      for (const t of Object.values(totals)) {
        fileCount += t.files;
        totalSize += t.bytes;
      }
      skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
      this.repo.complete(id, {
        file_count: fileCount,
        total_size: totalSize,
        skipped: JSON.stringify(skipped),
      });
      this.liveBackups.delete(id);
      const retention =
        this.maxBackups === null
          ? null
          : this.cleanupLocked(sessionId, this.maxBackups, { keep: [name, ...alsoKeep] });
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
      if (this.liveBackups.has(id)) {
        this.repo.deleteById(id);
        this.liveBackups.delete(id);
        this.collect(placed);
      }
      throw err;
    }
  }

  private exists(name: string): SandboxError {
    return invalidArgument(`backup '${name}' already exists; choose another name`, { name });
  }

  private rowOf(
    e: ScanEntry,
    content: { sha256: string | null; size: number; category: string | null; stat_key: string | null },
  ): BackupFileRow {
    return { path: e.rel, kind: e.kind, mode: e.mode, target: e.target, mtime_ms: e.mtimeMs, ...content };
  }

  /**
   * A stat-cache hit whose blob disappeared before the reference was recorded: read the file after all.
   * Returns the bytes it added to the store (0 when the blob was back by then or the file was skipped).
   */
  private async repairReused(
    id: number,
    dirs: DirCache,
    path: string,
    rows: Map<string, BackupFileRow>,
    skipped: SkippedEntry[],
    placed: string[],
  ): Promise<number> {
    let copy;
    try {
      copy = await this.scratch.with((buf) => copyToBlobTemp(dirs, path, this.blobs, true, buf));
    } catch (err) {
      if (!(err instanceof SkipFile)) throw err;
      skipped.push({ path, reason: err.message });
      rows.delete(path);
      this.repo.immediate(() => this.repo.deleteFile(id, path));
      return 0;
    }
    const { tmp, sha256, size } = copy;
    let added = 0;
    this.repo.immediate(() => {
      this.repo.updateFileContent(id, path, sha256, size);
      if (this.blobs.place(tmp, sha256)) {
        placed.push(sha256);
        added = size;
      }
    });
    await makeDurable([], [this.blobs.shardOf(sha256), this.blobs.shaRoot], this.blobs.shaRoot);
    const row = rows.get(path);
    if (row) Object.assign(row, { sha256, size, stat_key: null });
    return added;
  }

  // ---------------------------------------------------------------- reading

  async list(sessionId: string): Promise<BackupSummary[]> {
    return this.repo.listComplete(sessionId).map((b) => this.summaryOf(b));
  }

  private summaryOf(b: BackupRow): BackupSummary {
    return {
      name: b.name,
      created_at: b.created_at,
      reason: b.reason,
      file_count: b.file_count,
      total_size: b.total_size,
      unique_bytes: this.repo.uniqueBytes(b.id),
    };
  }

  async details(sessionId: string, name: string, workspace: string): Promise<BackupDetails> {
    const b = this.getBackup(sessionId, name);
    const rows = this.repo.files(b.id);
    const wsReal = this.workspaceReal(workspace);
    const current = await this.currentEntries(sessionId, wsReal, rows);
    const { added, changed, deleted } = diffEntries(rows, current);
    const categories: Record<string, CategoryDetails> = {};
    const folders: string[] = [];
    for (const r of rows) {
      if (r.kind === 'dir') {
        folders.push(r.path);
        continue;
      }
      const c = (categories[r.category ?? 'other'] ??= { files: 0, bytes: 0, items: [] });
      c.files++;
      c.bytes += r.kind === 'file' ? r.size : 0;
      c.items.push(this.itemOf(r));
    }
    const totals: Record<string, CategoryTotal> = {};
    for (const [category, c] of Object.entries(categories))
      totals[category] = { files: c.files, bytes: c.bytes };
    return {
      ...this.summaryOf(b),
      totals,
      categories,
      folders,
      skipped: parseJson<SkippedEntry[]>(b.skipped, []),
      diff_vs_workspace: { added, changed, deleted },
    };
  }

  private itemOf(r: BackupFileRow): ManifestItem {
    return {
      path: r.path,
      kind: r.kind === 'symlink' ? 'symlink' : 'file',
      size: r.size,
      mode: r.mode,
      sha256: r.sha256,
      target: r.target,
      mtime: new Date(r.mtime_ms).toISOString(),
    };
  }

  /** The workspace as comparable entries; unchanged files are recognised by their stat key, not re-read. */
  private async currentEntries(
    sessionId: string,
    wsReal: string,
    known: readonly BackupFileRow[],
  ): Promise<ComparableEntry[]> {
    const dirs = new DirCache(Dir.openPath(wsReal));
    try {
      return await this.entriesFrom(sessionId, wsReal, dirs, known);
    } finally {
      dirs.close();
      dirs.root.close();
    }
  }

  private async entriesFrom(
    sessionId: string,
    wsReal: string,
    dirs: DirCache,
    known: readonly BackupFileRow[],
  ): Promise<ComparableEntry[]> {
    const scan = scanWorkspace(dirs.root, wsReal);
    const byKey = new Map<string, string>();
    for (const r of [...known, ...this.repo.statCache(sessionId)]) {
      if (r.stat_key !== null && r.sha256 !== null) byKey.set(`${r.path}\0${r.stat_key}`, r.sha256);
    }
    const out: ComparableEntry[] = [];
    await forEachLimit(scan.entries, this.concurrency, async (e) => {
      let sha: string | null = null;
      if (e.kind === 'file') {
        sha = byKey.get(`${e.rel}\0${e.statKey}`) ?? null;
        if (sha === null) {
          try {
            sha = (await this.scratch.with((buf) => hashWorkspaceFile(dirs, e.rel, buf))).sha256;
          } catch (err) {
            if (err instanceof SkipFile) return;
            throw err;
          }
        }
      }
      out.push({ path: e.rel, kind: e.kind, sha256: sha, target: e.target, mode: e.mode });
    });
    return out;
  }

  async diffBackups(sessionId: string, from: string, to: string): Promise<DiffResult> {
    const a = this.getBackup(sessionId, from);
    const b = this.getBackup(sessionId, to);
    const { added, changed, deleted } = diffEntries(this.repo.files(a.id), this.repo.files(b.id));
    return { from, to, added, changed, deleted };
  }

  async verify(sessionId: string, name: string): Promise<VerifyResult> {
    const b = this.getBackup(sessionId, name);
    const rows = this.repo.files(b.id).filter((r) => r.sha256 !== null);
    const status = new Map<string, string>();
    const shas = [...new Set(rows.map((r) => r.sha256 as string))];
    await forEachLimit(shas, this.concurrency, async (sha) => {
      status.set(sha, await this.scratch.with((buf) => this.blobs.check(sha, buf)));
    });
    const missing = rows.filter((r) => status.get(r.sha256 as string) === 'missing').map((r) => r.path);
    const corrupt = rows.filter((r) => status.get(r.sha256 as string) === 'corrupt').map((r) => r.path);
    return {
      name,
      ok: missing.length === 0 && corrupt.length === 0,
      checked_files: rows.length,
      checked_blobs: shas.length,
      missing,
      corrupt,
    };
  }

  // ---------------------------------------------------------------- rollback

  rollback(
    sessionId: string,
    name: string,
    workspace: string,
    opts: RollbackOptions = {},
  ): Promise<RollbackResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(sessionId, () => this.rollbackLocked(sessionId, name, workspace, opts)),
    );
  }

  private async rollbackLocked(
    sessionId: string,
    name: string,
    workspace: string,
    opts: RollbackOptions,
  ): Promise<RollbackResult> {
    const t0 = performance.now();
    this.getBackup(sessionId, name);
    const wsReal = this.workspaceReal(workspace);
    const paths = rollbackPaths(wsReal);
    if (statSync(paths.root).dev !== statSync(wsReal).dev) {
      throw new SandboxError(
        'internal',
        'rollback needs the workspace and its parent folder on one filesystem',
        {
          workspace: wsReal,
        },
      );
    }
    const earlier = this.repo.rollbackForWorkspace(wsReal);
    if (earlier) {
      if (earlier.pid !== process.pid && pidAlive(earlier.pid)) {
        throw invalidArgument('a rollback of this workspace is already running in another server process', {
          backup: earlier.backup_name,
        });
      }
      await this.recoverRollback(earlier, { rollbacks_completed: [], rollbacks_abandoned: [] });
    }
    // The marker goes in before the manifest is read: from then on no cleanup (in any process) deletes the
    // backup, and a cleanup that won the race has already made it not_found.
    const markerId = this.repo.insertRollback({
      session_id: sessionId,
      backup_name: name,
      workspace: wsReal,
      pid: process.pid,
      started_at: this.now().toISOString(),
    });
    this.liveRollbacks.add(markerId);
    let rows: BackupFileRow[];
    try {
      rows = this.repo.files(this.getBackup(sessionId, name).id);
    } catch (err) {
      this.repo.deleteRollback(markerId);
      this.liveRollbacks.delete(markerId);
      throw err;
    }
    const total = rows.filter((r) => r.kind !== 'dir').length + 1;
    let done = 0;
    let committed = false;
    try {
      await removeLeftovers(paths);
      const staged = await stageManifest(rows, paths.staging, this.blobs, {
        owner: workspaceOwner(),
        concurrency: this.concurrency,
        scratch: this.scratch,
        onItem: () => opts.onProgress?.(++done, total),
      });
      if (staged.missing.length > 0 || staged.corrupt.length > 0) {
        throw new SandboxError(
          'internal',
          `backup '${name}' is damaged (${staged.missing.length} missing, ${staged.corrupt.length} corrupt files); the workspace was not changed`,
          { backup: name, missing: staged.missing, corrupt: staged.corrupt },
          'roll back to another backup; verify_backup reports the damaged files',
        );
      }
      faultPoint('rollback:after_staging');
      const pre = await this.backupLocked(sessionId, wsReal, { reason: 'pre_rollback' }, [name]);
      faultPoint('rollback:after_pre_backup');
      const changes = diffEntries(pre.rows, rows);
      const restoredDirs = new Set(rows.filter((r) => r.kind === 'dir').map((r) => r.path));
      const journal: RollbackJournal = {
        version: 1,
        session_id: sessionId,
        backup: name,
        pre_rollback_backup: pre.result.name,
        workspace: wsReal,
        phase: 'evict',
        carry: pre.nestedExcluded.filter((p) => restoredDirs.has(posix.dirname(p))),
      };
      mkdirSync(paths.old, { mode: 0o700 });
      fsyncDir(paths.root);
      writeJournal(paths, journal);
      committed = true;
      faultPoint('rollback:after_journal');
      try {
        completeSwap(paths, journal, 'rollback');
      } catch {
        // One more try from what the journal now says (no journal: the swap had finished); if this fails too,
        // the marker stays and recover() finishes the swap at start-up.
        const again = readJournal(paths);
        if (again) completeSwap(paths, again, 'rollback');
      }
      opts.onProgress?.(total, total);
      try {
        await removeTree(paths.staging);
        const trash = moveOldToTrash(paths, this.trashDir);
        if (trash === null) await removeTree(paths.old);
        faultPoint('rollback:after_trash');
        this.repo.deleteRollback(markerId);
        if (trash !== null) this.background(this.deleteTrash(trash));
      } catch {
        // The workspace is final; leftovers stay marked and the next rollback or recover() removes them.
      }
      return {
        backup: name,
        restored_files: changes.added.length + changes.changed.length,
        removed_files: changes.deleted.length,
        unchanged_files: changes.unchanged,
        pre_rollback_backup: pre.result.name,
        not_backed_up: pre.result.skipped,
        python_restarted_required: false,
        duration_ms: Math.round(performance.now() - t0),
      };
    } catch (err) {
      if (!committed) {
        await removeLeftovers(paths);
        this.repo.deleteRollback(markerId);
        throw err;
      }
      throw new SandboxError(
        'internal',
        `rollback to '${name}' was interrupted after its commit point; it completes when the server restarts`,
        { backup: name, cause: err instanceof Error ? err.message : String(err) },
      );
    } finally {
      this.liveRollbacks.delete(markerId);
    }
  }

  private async recoverRollback(
    marker: RollbackMarkerRow,
    report: Pick<RecoverReport, 'rollbacks_completed' | 'rollbacks_abandoned'>,
  ): Promise<void> {
    const paths = rollbackPaths(marker.workspace);
    const journal = readJournal(paths);
    const label = `${marker.session_id}:${marker.backup_name}`;
    if (journal) {
      completeSwap(paths, journal, 'recover');
      report.rollbacks_completed.push(label);
    } else {
      report.rollbacks_abandoned.push(label);
    }
    await removeLeftovers(paths);
    this.repo.deleteRollback(marker.id);
  }

  // ---------------------------------------------------------------- single file

  restoreFile(sessionId: string, name: string, path: string, workspace: string): Promise<RestoreFileResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(sessionId, () => this.restoreLocked(sessionId, name, path, workspace)),
    );
  }

  private async restoreLocked(
    sessionId: string,
    name: string,
    path: string,
    workspace: string,
  ): Promise<RestoreFileResult> {
    const b = this.getBackup(sessionId, name);
    const segments = workspaceSegments(path);
    if (segments.length === 0)
      throw invalidArgument('give the path of a file, not the workspace itself', { path });
    const rel = segments.join('/');
    const row = this.repo.file(b.id, rel);
    if (!row) throw notFound('file', rel, `get_backup_details lists the files in backup '${name}'`);
    if (row.kind === 'dir')
      throw invalidArgument(
        `'${rel}' is a folder in backup '${name}'; restore its files one by one or roll back`,
      );
    const wsReal = this.workspaceReal(workspace);
    const parentRel = segments.slice(0, -1).join('/');
    const last = segments[segments.length - 1]!;
    // Folders are opened (or made) one by one relative to their parent, never through a symlink; the entry itself
    // is replaced by rename within its folder's descriptor, so nothing the box swaps meanwhile redirects it.
    const dir = withDir(Dir.openPath(wsReal, workspaceOwner()), (root) => {
      try {
        return root.walk(segments.slice(0, -1), { create: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'EEXIST') {
          throw invalidArgument(`cannot restore '${rel}': '${parentRel}' is not a folder`, { path: rel });
        }
        throw err;
      }
    });
    const tmp = `.${last}.restore-${randomBytes(6).toString('hex')}`;
    try {
      if (dir.lstat(last)?.isDirectory()) {
        throw invalidArgument(`cannot restore '${rel}': a folder with that name is in the workspace`, {
          path: rel,
        });
      }
      if (row.kind === 'symlink') {
        materializeSymlink(row.target ?? '', dir.at(tmp) as string, row.mtime_ms, dir.owner);
      } else {
        const res = await this.scratch.with((buf) =>
          materializeFile(
            this.blobs,
            row.sha256 ?? '',
            dir.at(tmp) as string,
            row.mode,
            row.mtime_ms,
            true,
            buf,
            dir.owner,
          ),
        );
        if (res !== 'ok') {
          throw new SandboxError('internal', `the stored copy of '${rel}' in backup '${name}' is ${res}`, {
            backup: name,
            path: rel,
            problem: res,
          });
        }
      }
      dir.rename(tmp, dir, last);
      dir.sync();
    } catch (err) {
      try {
        dir.unlink(tmp);
      } catch {
        // never created or already renamed
      }
      throw err;
    } finally {
      dir.close();
    }
    return { path: rel, kind: row.kind, size: row.size, sha256: row.sha256 };
  }

  // ---------------------------------------------------------------- retention and garbage

  /** Keeps the newest maxBackups backups of the session; 0 deletes them all (a closed session's, say). */
  cleanupOld(sessionId: string, maxBackups = 10, opts: CleanupOptions = {}): Promise<CleanupResult> {
    return this.serial(sessionId, async () => this.cleanupLocked(sessionId, maxBackups, opts));
  }

  private cleanupLocked(sessionId: string, maxBackups: number, opts: CleanupOptions): CleanupResult {
    if (!Number.isInteger(maxBackups) || maxBackups < 0) {
      throw invalidArgument('max_backups must be a whole number of at least 0', { max_backups: maxBackups });
    }
    // Choosing and deleting in one write transaction: a rollback marker inserted meanwhile is either seen here
    // or finds its backup gone. Manifests go before blobs: a crash between the two steps leaves unreferenced
    // blobs (swept later), never a manifest pointing at a deleted blob.
    const { victims, kept, shas } = this.repo.immediate(() => {
      const protect = new Set([...(opts.keep ?? []), ...this.repo.rollbackSources(sessionId)]);
      const all = this.repo.listComplete(sessionId);
      const victims = all.slice(maxBackups).filter((b) => !protect.has(b.name));
      const gone = new Set(victims.map((v) => v.id));
      const shas = this.repo.distinctShas([...gone]);
      for (const v of victims) this.repo.deleteById(v.id);
      return { victims, kept: all.filter((b) => !gone.has(b.id)).map((b) => b.name), shas };
    });
    if (victims.length === 0) return { deleted: [], kept, blobs_deleted: 0, bytes_freed: 0 };
    const freed = this.collect(shas);
    return { deleted: victims.map((v) => v.name), kept, ...freed };
  }

  /** Deletes the given blobs that no manifest references, each check and delete under the write lock. */
  private collect(shas: readonly string[]): { blobs_deleted: number; bytes_freed: number } {
    let blobsDeleted = 0;
    let bytesFreed = 0;
    for (let i = 0; i < shas.length; i += 512) {
      const slice = shas.slice(i, i + 512);
      this.repo.immediate(() => {
        for (const sha of slice) {
          if (this.repo.isReferenced(sha)) continue;
          const bytes = this.blobs.remove(sha);
          if (bytes > 0) blobsDeleted++;
          bytesFreed += bytes;
        }
      });
    }
    return { blobs_deleted: blobsDeleted, bytes_freed: bytesFreed };
  }

  /** Deletes every stored blob no manifest references (left by crashes between the two cleanup steps). */
  private async gc(): Promise<{ blobs_deleted: number; bytes_freed: number }> {
    const referenced = this.repo.allReferencedShas();
    const unreferenced = this.blobs.list().filter((sha) => !referenced.has(sha));
    const total = { blobs_deleted: 0, bytes_freed: 0 };
    for (let i = 0; i < unreferenced.length; i += GC_SLICE) {
      if (i > 0) await nextTurn(); // a large sweep lets requests run between slices
      const freed = this.collect(unreferenced.slice(i, i + GC_SLICE));
      total.blobs_deleted += freed.blobs_deleted;
      total.bytes_freed += freed.bytes_freed;
    }
    return total;
  }

  // ---------------------------------------------------------------- start-up

  /**
   * Call once at start-up, before serving: finishes or abandons rollbacks a dead process left (see the header)
   * and drops its half-made backups. Deleting its trash, temp files and unreferenced blobs starts in the
   * background (idle() waits for it). Safe to run again at any time.
   */
  async recover(): Promise<RecoverReport> {
    const stale = (pid: number): boolean => pid === process.pid || !pidAlive(pid);
    const report: RecoverReport = {
      rollbacks_completed: [],
      rollbacks_abandoned: [],
      failed: [],
      pending_backups_removed: 0,
    };
    for (const marker of this.repo.rollbacks()) {
      if (this.liveRollbacks.has(marker.id) || !stale(marker.pid)) continue;
      try {
        await this.recoverRollback(marker, report);
      } catch (err) {
        report.failed.push({
          workspace: marker.workspace,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    for (const p of this.repo.pendingBackups()) {
      if (this.liveBackups.has(p.id) || !stale(p.pid)) continue;
      this.repo.deleteById(p.id);
      report.pending_backups_removed++;
    }
    this.background(this.sweep());
    return report;
  }

  /** Deletes what dead writers left: trash trees, temp blobs, and blobs no manifest references. */
  private async sweep(): Promise<void> {
    await nextTurn(); // recover() returns, and the server starts serving, before any of this runs
    for (const name of readdirSync(this.trashDir)) {
      const path = join(this.trashDir, name);
      const pid = Number(name.split('-', 1)[0]);
      // Our own pid and not being deleted: a previous life of this process (pid reuse) or a failed deletion.
      if (this.trashing.has(path) || (pid !== process.pid && pidAlive(pid))) continue;
      try {
        await this.deleteTrash(path);
      } catch {
        // left for the next sweep; the rest still runs
      }
    }
    // Our own pid on a temp file means a previous life of this process (pid reuse) unless a backup is running.
    this.blobs.sweepTemps((pid) => (pid === process.pid ? this.liveBackups.size === 0 : !pidAlive(pid)));
    await this.gc();
  }

  private async deleteTrash(path: string): Promise<void> {
    this.trashing.add(path);
    try {
      await removeTree(path);
    } finally {
      this.trashing.delete(path);
    }
  }
}
