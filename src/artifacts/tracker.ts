// Detects which workspace files a call created, changed or deleted, at a cost that does not grow with the contents of unchanged files; must never follow a symlink or read a file it has not proven to be a plain file inside the workspace.
import { lstat, realpath } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { forEachLimit } from '../for-each-limit.js';
import { categorize, categorizeByName } from '../workspace/categorize.js';
import { defaultFileIO, NotHashedError, UnsafeFileError, type FileIO } from '../workspace/file-io.js';
import type { Category } from '../workspace/categories.js';
import type { Artifact, ArtifactChanges } from './types.js';
import { HashBudget } from './hash-budget.js';
import { eventsDelivered, WorkspaceWatch, type WalkedDir } from './workspace-watch.js';
import {
  DEFAULT_EXCLUDES,
  isExcludedPath,
  isUnseen,
  MAX_WALK_ENTRIES,
  sameFile,
  snapshot,
  toFileStat,
  type ExcludeRules,
  type FileStat,
  type Snapshot,
} from './workspace-walk.js';

export {
  DEFAULT_EXCLUDES,
  isExcludedPath,
  sameFile,
  snapshot,
  type ExcludeRules,
  type FileStat,
  type Snapshot,
} from './workspace-walk.js';

export interface CacheEntry {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  category: Category;
  mime: string;
  /** undefined: only the head was read so far. */
  sha256: string | undefined;
}

/**
 * A file modified within this window of being read may be written again within the same coarse kernel
 * timestamp tick, leaving its stat unchanged; such hashes are not kept (the "racy git" problem).
 */
const RACY_NS = 20_000_000n;

/** What is known about a file's content, keyed by path and valid only while (size, mtime, ctime, inode) hold. */
export class HashCache {
  private readonly entries = new Map<string, CacheEntry>();

  lookup(path: string, st: FileStat): CacheEntry | undefined {
    const e = this.entries.get(path);
    if (
      !e ||
      e.size !== st.size ||
      e.mtimeNs !== st.mtimeNs ||
      e.ctimeNs !== st.ctimeNs ||
      e.ino !== st.ino
    ) {
      return undefined;
    }
    return e;
  }

  /** Keeps what was learned unless the file was modified too recently to trust its stat. */
  store(
    path: string,
    st: FileStat,
    info: { category: Category; mime: string; sha256?: string },
    readAtNs: bigint,
  ): void {
    const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (readAtNs - newest < RACY_NS) {
      this.entries.delete(path);
      return;
    }
    this.entries.set(path, {
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      ino: st.ino,
      category: info.category,
      mime: info.mime,
      sha256: info.sha256,
    });
  }

  forget(path: string): void {
    this.entries.delete(path);
  }

  /** Drops entries of files that no longer exist, so the cache never outgrows the workspace. */
  prune(files: ReadonlyMap<string, FileStat>): void {
    for (const path of this.entries.keys()) if (!files.has(path)) this.entries.delete(path);
  }
}

export interface DescribedFile {
  path: string;
  stat: FileStat;
  category: Category;
  mime: string;
  /**
   * string when hashed; null when unreadable, or not read whole (sparse, or past the call's hashing budget: see
   * HashBudget); undefined when hashing was not asked for.
   */
  sha256: string | null | undefined;
}

export interface DescribeOptions {
  hash: boolean;
  cache: HashCache;
  io?: FileIO;
  /** Bounds what hashing may read; without it every file is hashed whole. */
  budget?: HashBudget;
}

function wallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Category, MIME type and (when asked) sha256 of one file, from the cache when its stat still matches. */
export async function describeFile(
  root: string,
  path: string,
  st: FileStat,
  opts: DescribeOptions,
): Promise<DescribedFile | null> {
  const hit = opts.cache.lookup(path, st);
  if (hit && (!opts.hash || hit.sha256 !== undefined)) {
    return {
      path,
      stat: st,
      category: hit.category,
      mime: hit.mime,
      sha256: opts.hash ? hit.sha256 : undefined,
    };
  }
  const io = opts.io ?? defaultFileIO;
  const abs = `${root}/${path}`;
  const readAt = wallNs();
  const budget = opts.hash ? opts.budget : undefined;
  const skipped = budget?.reserve(st);
  if (budget && skipped) return describeUnhashed(root, path, st, opts, budget, skipped);
  try {
    if (opts.hash) {
      let r;
      // Read no more than was reserved: a file grown since its stat is not hashed (several hash at once, so headroom
      // handed to each would add up past the budget).
      const ceiling = budget ? st.size : undefined;
      try {
        r = await io.hash(abs, root, ceiling);
      } catch (err) {
        // A file that grew past the ceiling may have been read up to it: what is left of the budget is spent.
        const spent = err instanceof NotHashedError && err.reason === 'over_budget' ? ceiling! : 0;
        budget?.settle(st.size, spent);
        if (budget && err instanceof NotHashedError) {
          return await describeUnhashed(root, path, st, opts, budget, err.reason);
        }
        throw err;
      }
      budget?.settle(st.size, r.size);
      const stat = toFileStat(r.stat);
      const c = await categorize(path, r.head, r.head.length === r.size);
      opts.cache.store(path, stat, { category: c.category, mime: c.mime, sha256: r.sha256 }, readAt);
      return { path, stat: { ...stat, size: r.size }, category: c.category, mime: c.mime, sha256: r.sha256 };
    }
    const r = await io.head(abs, root);
    const stat = toFileStat(r.stat);
    const c = await categorize(path, r.head, r.complete);
    opts.cache.store(path, stat, { category: c.category, mime: c.mime }, readAt);
    return { path, stat, category: c.category, mime: c.mime, sha256: undefined };
  } catch (err) {
    if (err instanceof UnsafeFileError) return null;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'EACCES' || code === 'EPERM') {
      // The box may chmod a file so the server cannot read it; it is still the box's output.
      const c = categorizeByName(path);
      return { path, stat: st, category: c.category, mime: c.mime, sha256: null };
    }
    throw err;
  }
}

/** A file described from its head only, its sha256 null, and named in the budget's notice. */
async function describeUnhashed(
  root: string,
  path: string,
  st: FileStat,
  opts: DescribeOptions,
  budget: HashBudget,
  reason: Parameters<HashBudget['skip']>[1],
): Promise<DescribedFile | null> {
  const d = await describeFile(root, path, st, { ...opts, hash: false, budget: undefined });
  if (!d) return null;
  budget.skip(path, reason);
  return { ...d, sha256: null };
}

/**
 * Runs `fn` over `items` with at most `limit` in flight, results in input order; after a failure no
 * further item is started, and the first failure is rethrown once the running ones settle.
 */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (items.length === 0) return [];
  const out = new Array<R>(items.length);
  await forEachLimit([...items.keys()], limit, async (i) => {
    out[i] = await fn(items[i]!);
  });
  return out;
}

export function artifactUri(sessionId: string, path: string): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `sandbox://sessions/${encodeURIComponent(sessionId)}/files/${encoded}`;
}

/** ISO time that never throws: a box can set any mtime (os.utime(p, (0, 1e20))), beyond what Date holds. */
export function isoTime(ms: number): string {
  const limit = 8.64e15;
  const clamped = Number.isFinite(ms) ? Math.max(-limit, Math.min(limit, ms)) : 0;
  // Rounded to the millisecond, as Node's Stats.mtime is, so both agree.
  return new Date(Math.round(clamped)).toISOString();
}

export function toArtifact(sessionId: string, d: DescribedFile): Artifact {
  return {
    path: d.path,
    category: d.category,
    mime: d.mime,
    size: d.stat.size,
    sha256: d.sha256 ?? null,
    mtime: isoTime(d.stat.mtimeMs),
    uri: artifactUri(sessionId, d.path),
  };
}

export interface DiffOptions {
  sessionId: string;
  /** Shared across calls so a file is never hashed twice while unchanged. */
  cache?: HashCache;
  io?: FileIO;
  budget?: HashBudget;
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Files created, changed or deleted between two snapshots. Only created and changed files are read; a file
 * whose stat changed but whose content hashes as before (touched, chmod) is not reported as changed. Where a walk
 * stopped at its entry cap nothing is known: a file there is neither created nor deleted, and one the `before` walk
 * knew is carried into `after` unchanged.
 */
export async function diff(before: Snapshot, after: Snapshot, opts: DiffOptions): Promise<ArtifactChanges> {
  const cache = opts.cache ?? new HashCache();
  const created: string[] = [];
  const touched: string[] = [];
  const deleted: string[] = [];
  for (const [path, st] of after.files) {
    const prev = before.files.get(path);
    if (!prev) {
      if (!isUnseen(before, path)) created.push(path);
    } else if (!sameFile(prev, st)) touched.push(path);
  }
  for (const [path, st] of before.files) {
    if (after.files.has(path)) continue;
    if (isUnseen(after, path)) after.files.set(path, st);
    else deleted.push(path);
  }
  const previous = new Map(touched.map((p) => [p, cache.lookup(p, before.files.get(p)!)?.sha256]));
  for (const path of deleted) cache.forget(path);

  const limit = 4;
  const describe = (path: string) =>
    describeFile(after.root, path, after.files.get(path)!, {
      hash: true,
      cache,
      io: opts.io,
      budget: opts.budget,
    });
  const [newFiles, changedFiles] = await Promise.all([
    mapLimit(created, limit, describe),
    mapLimit(touched, limit, describe),
  ]);

  const result: ArtifactChanges = { created: [], changed: [], deleted };
  for (const d of newFiles) if (d) result.created.push(toArtifact(opts.sessionId, d));
  changedFiles.forEach((d, i) => {
    const path = touched[i]!;
    if (!d) {
      deleted.push(path); // vanished between the walk and the read
      return;
    }
    const old = previous.get(path);
    if (old !== undefined && d.sha256 !== null && old === d.sha256) return;
    result.changed.push(toArtifact(opts.sessionId, d));
  });
  result.created.sort(byPath);
  result.changed.sort(byPath);
  deleted.sort();
  return result;
}

export interface TrackerOptions {
  workspace: string;
  sessionId: string;
  io?: FileIO;
  excludes?: ExcludeRules;
  /** Entries one walk looks at (MAX_WALK_ENTRIES). */
  maxEntries?: number;
  /** Bytes one call hashes (HASH_BUDGET_BYTES). */
  hashBudget?: number;
}

/**
 * Per-session change tracking around calls. The end snapshot of one call is the start of the next, so
 * `begin()` costs nothing unless the workspace was touched by something other than a call: host-side
 * writes report themselves (noteHostWrite / noteHostDelete); what processes in the box (web apps, background
 * jobs) write between calls the folder watch sees, and begin() walks again; anything the watch cannot see (it
 * gave up on a very large workspace) must call invalidate().
 */
export class ArtifactTracker {
  readonly workspace: string;
  readonly sessionId: string;
  readonly cache = new HashCache();
  private readonly io: FileIO;
  private readonly excludes: ExcludeRules;
  private readonly maxEntries: number;
  private readonly hashBudget: number | undefined;
  /** Lines for the current call's result (a walk stopped at its cap, files not hashed), taken by takeNotices(). */
  private notices: string[] = [];
  private baseline: Snapshot | null = null;
  private stale = true;
  /** Whether the workspace changed since the baseline's walk; a call that changed nothing then needs no walk. */
  private readonly watch = new WorkspaceWatch();
  /** Whether the last end() walked the workspace (false: the watch saw no change). */
  lastEndWalked = false;
  /** Whether the last begin() walked the workspace (false: the previous end state still held). */
  lastBeginWalked = false;
  /** Host writes noted while end() walks: its snapshot may have missed them, so they are applied after. */
  private notedDuringEnd: Map<string, FileStat | null> | null = null;

  private resolvedRoot: string | undefined;

  /** The workspace's real path, resolved once: the folder itself never moves while the session lives. */
  private async root(): Promise<string> {
    this.resolvedRoot ??= await realpath(this.workspace);
    return this.resolvedRoot;
  }

  constructor(opts: TrackerOptions) {
    this.workspace = opts.workspace;
    this.sessionId = opts.sessionId;
    this.io = opts.io ?? defaultFileIO;
    this.excludes = opts.excludes ?? DEFAULT_EXCLUDES;
    this.maxEntries = opts.maxEntries ?? MAX_WALK_ENTRIES;
    this.hashBudget = opts.hashBudget;
  }

  /** What the last begin()/end() has to tell the call's result; each line is given once. */
  takeNotices(): string[] {
    return this.notices.splice(0);
  }

  private note(line: string | null): void {
    if (line !== null && !this.notices.includes(line)) this.notices.push(line);
  }

  /**
   * Call before running code; cheap when the previous call's end state is still valid. Files changed since then by
   * others (a web app, a background process) become part of the baseline, so the call is not credited with them.
   */
  async begin(): Promise<void> {
    this.notices = [];
    if (this.baseline && !this.stale) {
      await eventsDelivered();
      if (!this.watch.sawChange) {
        this.lastBeginWalked = false;
        return;
      }
    }
    this.lastBeginWalked = true;
    this.baseline = await this.walk();
    this.stale = false;
  }

  /** Call after the code ran: what it created, changed and deleted. The new state becomes the baseline. */
  async end(): Promise<ArtifactChanges> {
    if (!this.baseline) throw new Error('ArtifactTracker.end() called without begin()');
    if (this.watch.clean) {
      await eventsDelivered();
      if (this.watch.clean) {
        this.lastEndWalked = false;
        return { created: [], changed: [], deleted: [] };
      }
    }
    this.lastEndWalked = true;
    const before = this.baseline;
    const noted = new Map<string, FileStat | null>();
    this.notedDuringEnd = noted;
    try {
      const after = await this.walk();
      const budget = new HashBudget(this.hashBudget);
      const changes = await diff(before, after, {
        sessionId: this.sessionId,
        cache: this.cache,
        io: this.io,
        budget,
      });
      this.note(budget.notice());
      for (const [path, st] of noted) {
        if (st) after.files.set(path, st);
        else after.files.delete(path);
      }
      this.baseline = after;
      this.cache.prune(after.files);
      return changes;
    } finally {
      this.notedDuringEnd = null;
    }
  }

  /** A walk that becomes the baseline: the watch then follows the folders it saw. */
  private async walk(): Promise<Snapshot> {
    const dirs: WalkedDir[] = [];
    // events of writes made before now (the call's own) are read first, so they do not send the next begin() walking
    await eventsDelivered();
    this.watch.beforeWalk();
    const snap = await this.scanWith(dirs);
    this.watch.sync(dirs);
    if (snap.unseen) {
      this.note(
        `the workspace holds more than ${this.maxEntries} entries: this call's file changes were looked for among ` +
          'the first ones the walk reached only (files beyond them are neither reported nor listed)',
      );
    }
    return snap;
  }

  private async scanWith(dirs?: WalkedDir[]): Promise<Snapshot> {
    return snapshot(this.workspace, {
      rules: this.excludes,
      resolvedRoot: await this.root(),
      dirs,
      maxEntries: this.maxEntries,
    });
  }

  /** Stops watching the workspace (the session closed). */
  close(): void {
    this.watch.close();
  }

  /** The next begin() walks the workspace again (after a rollback, an install, anything not noted). */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * A file the server itself wrote: it becomes part of the baseline, so the next end() does not report it
   * as the code's work. When the content's hash is known it is remembered so the file is not read again.
   * Returns the file's stat, or undefined when the path is excluded from tracking or is not a regular file.
   */
  async noteHostWrite(
    path: string,
    known?: { sha256: string; category: Category; mime: string },
  ): Promise<FileStat | undefined> {
    if (isExcludedPath(path, this.excludes)) return undefined;
    let st: BigIntStats | undefined;
    try {
      st = await lstat(`${await this.root()}/${path}`, { bigint: true });
    } catch {
      st = undefined;
    }
    if (!st?.isFile()) {
      this.noteHostDelete(path);
      return undefined;
    }
    const fs = toFileStat(st);
    if (known) this.cache.store(path, fs, known, wallNs());
    this.baseline?.files.set(path, fs);
    this.notedDuringEnd?.set(path, fs);
    return fs;
  }

  noteHostDelete(path: string): void {
    this.baseline?.files.delete(path);
    this.notedDuringEnd?.set(path, null);
    this.cache.forget(path);
  }

  /** A fresh walk that does not move the baseline (listing must not swallow changes owed to the next end()). */
  async scan(): Promise<Snapshot> {
    return this.scanWith();
  }

  /** Every file with category and MIME type, and sha256 when `hash` is set; the cache makes repeats cheap. */
  async describeAll(opts: {
    hash: boolean;
    filter?: (path: string, st: FileStat) => boolean;
  }): Promise<DescribedFile[]> {
    const snap = await this.scan();
    const paths = [...snap.files.keys()]
      .filter((p) => !opts.filter || opts.filter(p, snap.files.get(p)!))
      .sort();
    const budget = new HashBudget(this.hashBudget);
    const described = await mapLimit(paths, 8, (p) =>
      describeFile(snap.root, p, snap.files.get(p)!, {
        hash: opts.hash,
        cache: this.cache,
        io: this.io,
        budget,
      }),
    );
    this.cache.prune(snap.files);
    return described.filter((d): d is DescribedFile => d !== null);
  }

  /** Hashes (through the cache) files already described without one. */
  async withHashes(files: DescribedFile[]): Promise<DescribedFile[]> {
    if (files.every((f) => f.sha256 !== undefined)) return files;
    const root = await this.root();
    const budget = new HashBudget(this.hashBudget);
    const out = await mapLimit(files, 4, (f) =>
      f.sha256 !== undefined
        ? Promise.resolve(f)
        : describeFile(root, f.path, f.stat, { hash: true, cache: this.cache, io: this.io, budget }),
    );
    return out.filter((d): d is DescribedFile => d !== null);
  }
}
