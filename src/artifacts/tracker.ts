// Detects which workspace files a call created, changed or deleted, at a cost that does not grow with the contents of unchanged files; must never follow a symlink or read a file it has not proven to be a plain file inside the workspace.
import type { Dirent } from 'node:fs';
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { forEachLimit } from '../for-each-limit.js';
import { categorize, categorizeByName } from '../workspace/categorize.js';
import { defaultFileIO, HOST_TEMP_NAME, UnsafeFileError, type FileIO } from '../workspace/file-io.js';
import type { Category } from '../workspace/categories.js';
import type { Artifact, ArtifactChanges } from './types.js';
import { eventsDelivered, WorkspaceWatch, type WalkedDir } from './workspace-watch.js';

export interface FileStat {
  size: number;
  mtimeMs: number;
  mtimeNs: bigint;
  /** ctime cannot be set from user space, so it catches a rewrite whose size and mtime were restored. */
  ctimeNs: bigint;
  ino: bigint;
  mode: number;
}

export interface Snapshot {
  /** The workspace's real path; every key of `files` is relative to it. */
  root: string;
  /** Workspace-relative posix path → stat, regular files only. */
  files: Map<string, FileStat>;
}

export interface ExcludeRules {
  /** Folder names skipped at any depth. */
  names: readonly string[];
  /** Workspace-relative folders skipped with everything under them. */
  prefixes: readonly string[];
}

/** Environments, caches and the agent's own state are not the user's work; saved long outputs are. */
export const DEFAULT_EXCLUDES: ExcludeRules = {
  names: ['.venv', '__pycache__', '.cache', '.ipynb_checkpoints'],
  prefixes: ['.sandbox/state'],
};

export function isExcludedPath(rel: string, rules: ExcludeRules = DEFAULT_EXCLUDES): boolean {
  const segments = rel.split('/');
  if (segments.some((s) => rules.names.includes(s))) return true;
  if (HOST_TEMP_NAME.test(segments[segments.length - 1] ?? '')) return true;
  return rules.prefixes.some((p) => rel === p || rel.startsWith(p + '/'));
}

function toFileStat(st: BigIntStats): FileStat {
  return {
    size: Number(st.size),
    // Whole milliseconds from integer division: Number(ns) alone would round across a millisecond boundary.
    mtimeMs: Number(st.mtimeNs / 1_000_000n) + Number(st.mtimeNs % 1_000_000n) / 1e6,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: st.ino,
    mode: Number(st.mode),
  };
}

export function sameFile(a: FileStat, b: FileStat): boolean {
  return (
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.mode === b.mode
  );
}

/**
 * Synchronous system calls are several times faster than the thread-pool versions for thousands of lstat
 * calls; the walk yields to the event loop every few milliseconds so other sessions are not starved.
 */
const SLICE_MS = 4;

/**
 * Removed or replaced while walking, made unreadable by the box, or nested beyond PATH_MAX: the box's
 * doing, never a reason to fail the call, so such entries are skipped.
 */
const SKIPPABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ENAMETOOLONG', 'ELOOP']);

function skippable(err: unknown): boolean {
  return SKIPPABLE.has((err as NodeJS.ErrnoException).code ?? '');
}

function listDir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (skippable(err)) return [];
    throw err;
  }
}

/** A vanished workspace must fail the walk, not read as "every file deleted". */
function listRoot(root: string, workspace: string): Dirent[] {
  try {
    return readdirSync(root, { withFileTypes: true });
  } catch (err) {
    throw new Error(`workspace ${workspace} is not a readable directory: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function lstatFile(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    if (skippable(err)) return undefined;
    throw err;
  }
}

/**
 * Walks the workspace with lstat (symlinks are never followed) and records every regular file; with `dirs`, also
 * every folder it walked, with its inode.
 */
export async function snapshot(
  workspace: string,
  rules: ExcludeRules = DEFAULT_EXCLUDES,
  resolvedRoot?: string,
  dirs?: WalkedDir[],
): Promise<Snapshot> {
  // A caller that already resolved the root skips the thread-pool round trip of an async realpath per call.
  const root = resolvedRoot ?? (await realpath(workspace));
  const files = new Map<string, FileStat>();
  const stack: Array<[string, string]> = [[root, '']];
  if (dirs) {
    const st = lstatFile(root);
    if (st?.isDirectory()) dirs.push({ path: root, ino: st.ino });
  }
  let sliceStart = performance.now();
  while (stack.length > 0) {
    const [dir, rel] = stack.pop()!;
    for (const entry of dir === root ? listRoot(root, workspace) : listDir(dir)) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!rules.names.includes(entry.name) && !rules.prefixes.includes(childRel)) {
          const path = `${dir}/${entry.name}`;
          stack.push([path, childRel]);
          if (dirs) {
            const st = lstatFile(path);
            if (st?.isDirectory()) dirs.push({ path, ino: st.ino });
          }
        }
        continue;
      }
      // Symlinks, FIFOs, sockets and devices are never artifacts: reading through them is how a box would
      // reach host files or hang the server.
      if (!entry.isFile() || rules.prefixes.includes(childRel)) continue;
      if (entry.name.charCodeAt(0) === 0x2e && HOST_TEMP_NAME.test(entry.name)) continue;
      const st = lstatFile(`${dir}/${entry.name}`);
      if (st?.isFile()) files.set(childRel, toFileStat(st));
    }
    if (performance.now() - sliceStart > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  return { root, files };
}

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
  /** string when hashed, null when unreadable, undefined when hashing was not asked for. */
  sha256: string | null | undefined;
}

export interface DescribeOptions {
  hash: boolean;
  cache: HashCache;
  io?: FileIO;
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
  try {
    if (opts.hash) {
      const r = await io.hash(abs, root);
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
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Files created, changed or deleted between two snapshots. Only created and changed files are read; a file
 * whose stat changed but whose content hashes as before (touched, chmod) is not reported as changed.
 */
export async function diff(before: Snapshot, after: Snapshot, opts: DiffOptions): Promise<ArtifactChanges> {
  const cache = opts.cache ?? new HashCache();
  const created: string[] = [];
  const touched: string[] = [];
  const deleted: string[] = [];
  for (const [path, st] of after.files) {
    const prev = before.files.get(path);
    if (!prev) created.push(path);
    else if (!sameFile(prev, st)) touched.push(path);
  }
  for (const path of before.files.keys()) if (!after.files.has(path)) deleted.push(path);
  const previous = new Map(touched.map((p) => [p, cache.lookup(p, before.files.get(p)!)?.sha256]));
  for (const path of deleted) cache.forget(path);

  const limit = 4;
  const describe = (path: string) =>
    describeFile(after.root, path, after.files.get(path)!, { hash: true, cache, io: opts.io });
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
  }

  /**
   * Call before running code; cheap when the previous call's end state is still valid. Files changed since then by
   * others (a web app, a background process) become part of the baseline, so the call is not credited with them.
   */
  async begin(): Promise<void> {
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
      const changes = await diff(before, after, {
        sessionId: this.sessionId,
        cache: this.cache,
        io: this.io,
      });
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
    const snap = await snapshot(this.workspace, this.excludes, await this.root(), dirs);
    this.watch.sync(dirs);
    return snap;
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
    return snapshot(this.workspace, this.excludes, await this.root());
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
    const described = await mapLimit(paths, 8, (p) =>
      describeFile(snap.root, p, snap.files.get(p)!, { hash: opts.hash, cache: this.cache, io: this.io }),
    );
    this.cache.prune(snap.files);
    return described.filter((d): d is DescribedFile => d !== null);
  }

  /** Hashes (through the cache) files already described without one. */
  async withHashes(files: DescribedFile[]): Promise<DescribedFile[]> {
    if (files.every((f) => f.sha256 !== undefined)) return files;
    const root = await this.root();
    const out = await mapLimit(files, 4, (f) =>
      f.sha256 !== undefined
        ? Promise.resolve(f)
        : describeFile(root, f.path, f.stat, { hash: true, cache: this.cache, io: this.io }),
    );
    return out.filter((d): d is DescribedFile => d !== null);
  }
}
