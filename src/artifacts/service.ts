// The artifacts service: lists, reports, cleans up, reads and writes a session's workspace files and exports notebooks; must never touch a path outside the workspace or return MCP types.
import { lstat, realpath } from 'node:fs/promises';
import { Minimatch } from 'minimatch';
import { isDiskFull, notFound, SandboxError } from '../errors.js';
import { resolveInWorkspace, toWorkspaceRel, workspaceSegments } from '../workspace/paths.js';
import { Dir } from '../fsafe/dir.js';
import { DirCache, LockedFileError } from '../fsafe/files.js';
import { withFrozenBox } from '../sandbox/freezer.js';
import { categorize, decodeUtf8, HEAD_BYTES, incompleteTail } from '../workspace/categorize.js';
import {
  defaultFileIO,
  openRegular,
  sha256Of,
  UnsafeFileError,
  writeAtomic,
  type FileIO,
} from '../workspace/file-io.js';
import { buildNotebook, notebookFileName } from './notebook.js';
import {
  ArtifactTracker,
  artifactUri,
  DEFAULT_EXCLUDES,
  isoTime,
  toArtifact,
  type DescribedFile,
  type ExcludeRules,
  type FileStat,
} from './tracker.js';
import { CATEGORIES, isCategory, type Category } from '../workspace/categories.js';
import {
  type Artifact,
  type ArtifactList,
  type ArtifactReport,
  type CategorizedArtifacts,
  type CategoryTotals,
  type CleanupOptions,
  type CleanupResult,
  type ListFilter,
  type NotebookExport,
  type NotebookHistoryEntry,
  type ReadResult,
  type SessionScope,
  type WriteContent,
  type WriteResult,
} from './types.js';

export interface ArtifactServiceOptions {
  /** Largest file write_file accepts (decoded bytes). */
  maxWriteBytes?: number;
  /** Bytes read_file returns when the caller does not say. */
  defaultReadBytes?: number;
  /** The most read_file returns in one call, whatever the caller asks. */
  maxReadBytes?: number;
  io?: FileIO;
  excludes?: ExcludeRules;
  now?: () => Date;
}

const MiB = 1024 * 1024;
const TOP_N = 10;
export interface ListPage {
  /** Only files whose path sorts after this one (the last path of the previous page). */
  after?: string;
  /** The most files returned (default: all). */
  limit?: number;
}

export interface ArtifactPage extends ArtifactList {
  /** The last path of this page when more files follow, else null. */
  next_after: string | null;
}
/** Folders the agent and server own; writing there could corrupt a session's state. */
const PROTECTED_PREFIXES = ['.sandbox/state'];

function isProtected(rel: string): boolean {
  return PROTECTED_PREFIXES.some((p) => rel === p || rel.startsWith(p + '/'));
}

function protectedError(path: string): SandboxError {
  return new SandboxError(
    'invalid_argument',
    `'${path}' is inside the sandbox's own state folder`,
    { path, reason: 'protected' },
    'Write somewhere else in the workspace.',
  );
}

function byNewest(a: DescribedFile, b: DescribedFile): number {
  if (a.stat.mtimeNs !== b.stat.mtimeNs) return a.stat.mtimeNs > b.stat.mtimeNs ? -1 : 1;
  return a.path < b.path ? -1 : 1;
}

function byLargest(a: DescribedFile, b: DescribedFile): number {
  if (a.stat.size !== b.stat.size) return b.stat.size - a.stat.size;
  return a.path < b.path ? -1 : 1;
}

function emptyTotals(): Record<Category, CategoryTotals> {
  return Object.fromEntries(CATEGORIES.map((c) => [c, { count: 0, bytes: 0 }])) as Record<
    Category,
    CategoryTotals
  >;
}

function decodeContent(content: WriteContent, limit: number, path: string): Buffer {
  const tooLarge = (bytes: number) =>
    new SandboxError(
      'invalid_argument',
      `The content is ${bytes} bytes; the limit is ${limit}`,
      { path, bytes, limit },
      'Write large files from code running in the session instead.',
    );
  if ('text' in content && typeof content.text === 'string') {
    const bytes = Buffer.byteLength(content.text, 'utf8');
    if (bytes > limit) throw tooLarge(bytes);
    return Buffer.from(content.text, 'utf8');
  }
  if ('base64' in content && typeof content.base64 === 'string') {
    const compact = content.base64.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
      throw new SandboxError(
        'invalid_argument',
        'The content is not valid base64',
        { path },
        'Send standard base64 (A-Z, a-z, 0-9, +, /).',
      );
    }
    const estimated = Math.floor((compact.length * 3) / 4);
    if (estimated - 2 > limit) throw tooLarge(estimated);
    const buf = Buffer.from(compact, 'base64');
    if (buf.length > limit) throw tooLarge(buf.length);
    return buf;
  }
  throw new SandboxError('invalid_argument', 'Give the content as {text} or {base64}', { path });
}

/** Up to `bytes` bytes from `offset` of a regular file inside the workspace, opened as readHead opens it. */
async function readRange(abs: string, root: string, offset: number, bytes: number): Promise<Uint8Array> {
  const { fh, stat } = await openRegular(abs, root);
  try {
    const want = Math.max(0, Math.min(bytes, Number(stat.size) - offset));
    const buf = Buffer.alloc(want);
    let n = 0;
    while (n < want) {
      const { bytesRead } = await fh.read(buf, n, want - n, offset + n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

function timestampName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `session-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export class ArtifactService {
  private readonly trackers = new Map<string, ArtifactTracker>();
  private readonly maxWriteBytes: number;
  private readonly defaultReadBytes: number;
  private readonly maxReadBytes: number;
  private readonly io: FileIO;
  private readonly excludes: ExcludeRules;
  private readonly now: () => Date;

  constructor(opts: ArtifactServiceOptions = {}) {
    this.maxWriteBytes = opts.maxWriteBytes ?? 25 * MiB;
    this.defaultReadBytes = opts.defaultReadBytes ?? 1 * MiB;
    this.maxReadBytes = opts.maxReadBytes ?? 10 * MiB;
    this.io = opts.io ?? defaultFileIO;
    this.excludes = opts.excludes ?? DEFAULT_EXCLUDES;
    this.now = opts.now ?? (() => new Date());
  }

  /** The session's change tracker (one per session, created on first use); the execute path calls begin/end. */
  tracker(scope: SessionScope): ArtifactTracker {
    let t = this.trackers.get(scope.sessionId);
    if (!t || t.workspace !== scope.workspace) {
      t = new ArtifactTracker({
        workspace: scope.workspace,
        sessionId: scope.sessionId,
        io: this.io,
        excludes: this.excludes,
      });
      this.trackers.set(scope.sessionId, t);
    }
    return t;
  }

  /** Drops a closed session's tracker and cache. */
  forget(sessionId: string): void {
    this.trackers.get(sessionId)?.close();
    this.trackers.delete(sessionId);
  }

  private async root(scope: SessionScope): Promise<string> {
    try {
      return await realpath(scope.workspace);
    } catch {
      throw new SandboxError('not_found', `The workspace of session '${scope.sessionId}' does not exist`, {
        kind: 'session',
        name: scope.sessionId,
      });
    }
  }

  private toArtifacts(scope: SessionScope, files: DescribedFile[]): Artifact[] {
    return files.map((f) => toArtifact(scope.sessionId, f));
  }

  /** One page of the matching files in path order, after `page.after` (a path); totals count every match. */
  async list(scope: SessionScope, filter: ListFilter = {}, page: ListPage = {}): Promise<ArtifactPage> {
    await this.root(scope);
    if (filter.category !== undefined && !isCategory(filter.category)) {
      throw new SandboxError(
        'invalid_argument',
        `Unknown category '${String(filter.category)}'`,
        { category: filter.category, allowed: [...CATEGORIES] },
        `Use one of: ${CATEGORIES.join(', ')}.`,
      );
    }
    let newerThanNs: bigint | null = null;
    if (filter.newerThan !== undefined) {
      const ms = Date.parse(filter.newerThan);
      if (Number.isNaN(ms)) {
        throw new SandboxError(
          'invalid_argument',
          `'${filter.newerThan}' is not a date`,
          { newerThan: filter.newerThan },
          'Use an ISO 8601 time such as 2025-01-31T12:00:00Z.',
        );
      }
      newerThanNs = BigInt(ms) * 1_000_000n;
    }
    let matcher: Minimatch | null = null;
    if (filter.glob !== undefined && filter.glob.length > 1000) {
      throw new SandboxError('invalid_argument', 'The glob is longer than 1000 characters', {
        length: filter.glob.length,
      });
    }
    if (filter.glob !== undefined && filter.glob !== '') {
      matcher = new Minimatch(filter.glob, { dot: true, matchBase: !filter.glob.includes('/') });
    }
    const cheapFilter = (path: string, st: FileStat) =>
      (newerThanNs === null || st.mtimeNs > newerThanNs) && (matcher === null || matcher.match(path));
    const t = this.tracker(scope);
    const limit = page.limit ?? Infinity;
    const after = page.after;
    const pick = <T>(sorted: T[], path: (x: T) => string) => {
      const rest = after === undefined ? sorted : sorted.filter((x) => path(x) > after);
      const shown = rest.slice(0, limit);
      const last = shown.at(-1);
      return { shown, next_after: rest.length > shown.length && last ? path(last) : null };
    };
    if (filter.category === undefined) {
      // The page is known from paths alone: a first walk only collects them, and only the page's files are then
      // read, each once, whole (hash and category from the same read).
      const matched = new Map<string, FileStat>();
      await t.describeAll({
        hash: false,
        filter: (path, st) => {
          if (cheapFilter(path, st)) matched.set(path, st);
          return false;
        },
      });
      const { shown, next_after } = pick([...matched.keys()].sort(), (p) => p);
      const wanted = new Set(shown);
      const described = await t.describeAll({ hash: true, filter: (path) => wanted.has(path) });
      let total_bytes = 0;
      for (const st of matched.values()) total_bytes += st.size;
      return {
        artifacts: this.toArtifacts(scope, described),
        total_count: matched.size,
        total_bytes,
        next_after,
      };
    }
    // With a category, only the head of each candidate is read until its category is known; the page is hashed.
    const files = (await t.describeAll({ hash: false, filter: cheapFilter })).filter(
      (f) => f.category === filter.category,
    );
    const { shown, next_after } = pick(files, (f) => f.path);
    return {
      artifacts: this.toArtifacts(scope, await t.withHashes(shown)),
      total_count: files.length,
      total_bytes: files.reduce((n, f) => n + f.stat.size, 0),
      next_after,
    };
  }

  async report(scope: SessionScope): Promise<ArtifactReport> {
    await this.root(scope);
    const t = this.tracker(scope);
    const files = await t.describeAll({ hash: false });
    const by_category = emptyTotals();
    let total_bytes = 0;
    for (const f of files) {
      by_category[f.category].count++;
      by_category[f.category].bytes += f.stat.size;
      total_bytes += f.stat.size;
    }
    const recent = [...files].sort(byNewest).slice(0, TOP_N);
    const largest = [...files].sort(byLargest).slice(0, TOP_N);
    const hashed = new Map(
      (await t.withHashes([...new Set([...recent, ...largest])])).map((f) => [f.path, f]),
    );
    const pick = (list: DescribedFile[]) =>
      this.toArtifacts(
        scope,
        list.map((f) => hashed.get(f.path)).filter((f): f is DescribedFile => f !== undefined),
      );
    return {
      total_count: files.length,
      total_bytes,
      by_category,
      most_recent: pick(recent),
      largest: pick(largest),
      generated_at: this.now().toISOString(),
    };
  }

  async categorize(scope: SessionScope): Promise<CategorizedArtifacts> {
    await this.root(scope);
    const files = await this.tracker(scope).describeAll({ hash: false });
    const categories: Partial<Record<Category, string[]>> = {};
    for (const f of files) (categories[f.category] ??= []).push(f.path);
    return { categories, total_count: files.length };
  }

  async cleanupByType(
    scope: SessionScope,
    category: Category,
    opts: CleanupOptions = {},
  ): Promise<CleanupResult> {
    if (!isCategory(category)) {
      throw new SandboxError(
        'invalid_argument',
        `Unknown category '${String(category)}'`,
        { category, allowed: [...CATEGORIES] },
        `Use one of: ${CATEGORIES.join(', ')}.`,
      );
    }
    return this.cleanup(scope, category, opts);
  }

  async cleanupAll(scope: SessionScope, opts: CleanupOptions = {}): Promise<CleanupResult> {
    return this.cleanup(scope, 'all', opts);
  }

  /** The box stands still while its files are chosen and deleted (and while the pre_cleanup backup runs). */
  private cleanup(
    scope: SessionScope,
    which: Category | 'all',
    opts: CleanupOptions,
  ): Promise<CleanupResult> {
    return withFrozenBox(scope.sessionId, () => this.cleanupFrozen(scope, which, opts));
  }

  private async cleanupFrozen(
    scope: SessionScope,
    which: Category | 'all',
    opts: CleanupOptions,
  ): Promise<CleanupResult> {
    const root = await this.root(scope);
    const t = this.tracker(scope);
    const files = (await t.describeAll({ hash: false })).filter(
      (f) => which === 'all' || f.category === which,
    );
    const result: CleanupResult = {
      scope: which,
      removed: [],
      removed_count: 0,
      removed_bytes: 0,
      failed: [],
    };
    if (files.length === 0) return result;
    if (opts.beforeCleanup) {
      try {
        await opts.beforeCleanup();
      } catch (err) {
        // The disk is full: the backup has no room, and this cleanup is the remedy every disk_full hint names. It
        // goes ahead without a backup and says so.
        if (!isDiskFull(err) && !(err instanceof SandboxError && err.code === 'disk_full')) throw err;
        result.backup_skipped =
          'the disk is full, so no backup was taken first: rollback_to_backup cannot bring these files back';
      }
    }
    // Every folder is opened relative to its parent, never through a symlink, and the file is unlinked relative to
    // its folder's descriptor: a folder swapped for a symlink since the walk is refused, not followed.
    const dirs = new DirCache(Dir.openPath(root));
    try {
      for (const f of files) this.removeListed(dirs, f, t, result);
    } finally {
      dirs.close();
      dirs.root.close();
    }
    result.removed_count = result.removed.length;
    return result;
  }

  private removeListed(dirs: DirCache, f: DescribedFile, t: ArtifactTracker, result: CleanupResult): void {
    try {
      const { dir, name } = dirs.locate(f.path);
      const st = dir.lstat(name);
      if (st === null) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
      if (!st.isFile()) throw new Error('no longer a regular file');
      dir.unlink(name);
      t.noteHostDelete(f.path);
      result.removed.push({ path: f.path, category: f.category, size: Number(st.size) });
      result.removed_bytes += Number(st.size);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        t.noteHostDelete(f.path);
        return;
      }
      const why =
        code === 'ELOOP' || code === 'ENOTDIR' ? 'a folder on its path is no longer a folder' : null;
      result.failed.push({
        path: f.path,
        error: why ?? (err instanceof Error ? err.message : String(err)),
      });
    }
  }

  /** Writes a file into the workspace atomically (temp file + rename), creating parent folders. */
  async writeFile(scope: SessionScope, path: string, content: WriteContent): Promise<WriteResult> {
    const root = await this.root(scope);
    const data = decodeContent(content, this.maxWriteBytes, path);
    if (isProtected(workspaceSegments(path).join('/'))) throw protectedError(path);
    const abs = resolveInWorkspace(root, path);
    if (isProtected(toWorkspaceRel(root, abs))) throw protectedError(path);
    const before = await lstat(abs).catch(() => null);
    try {
      await writeAtomic(abs, root, data, before?.isFile() ? before.mode & 0o777 : 0o644);
    } catch (err) {
      if (err instanceof UnsafeFileError) {
        throw new SandboxError('invalid_argument', `'${path}' leads outside the workspace`, {
          path,
          reason: 'escapes_workspace',
        });
      }
      throw err;
    }
    return { artifact: await this.hostWritten(scope, root, abs, data), created: before === null };
  }

  /** Records a file the server wrote as part of the baseline and describes it without reading it back. */
  private async hostWritten(
    scope: SessionScope,
    root: string,
    abs: string,
    data: Uint8Array,
  ): Promise<Artifact> {
    const finalRel = toWorkspaceRel(root, abs);
    const sha256 = sha256Of(data);
    const c = await categorize(finalRel, data.subarray(0, HEAD_BYTES), data.length <= HEAD_BYTES);
    const t = this.tracker(scope);
    // The tracker's stat of the new file; a path excluded from tracking is stat'ed here instead.
    const st =
      (await t.noteHostWrite(finalRel, { sha256, category: c.category, mime: c.mime })) ?? (await lstat(abs));
    return {
      path: finalRel,
      category: c.category,
      mime: c.mime,
      size: data.length,
      sha256,
      mtime: isoTime(st.mtimeMs),
      uri: artifactUri(scope.sessionId, finalRel),
    };
  }

  /**
   * Reads up to `maxBytes` from `offset`: text when the bytes are UTF-8, base64 otherwise. A text range starts and
   * ends on whole characters (offset moves past a cut one); next_offset is where the next range starts, null at
   * the end of the file.
   */
  async readFile(
    scope: SessionScope,
    path: string,
    opts: { maxBytes?: number; offset?: number } = {},
  ): Promise<ReadResult> {
    const root = await this.root(scope);
    const maxBytes = opts.maxBytes ?? this.defaultReadBytes;
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > this.maxReadBytes) {
      throw new SandboxError(
        'invalid_argument',
        `maxBytes must be an integer from 1 to ${this.maxReadBytes}`,
        { maxBytes, limit: this.maxReadBytes },
      );
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new SandboxError('invalid_argument', 'offset must be a whole number of bytes, 0 or more', {
        offset,
      });
    }
    const abs = resolveInWorkspace(root, path, { mustExist: true });
    let head: Uint8Array;
    let range: Uint8Array;
    let size: number;
    try {
      const first = await this.io.head(abs, root, offset === 0 ? maxBytes : HEAD_BYTES);
      size = Number(first.stat.size);
      head = first.head;
      range = offset === 0 ? first.head : await readRange(abs, root, offset, maxBytes);
    } catch (err) {
      if (err instanceof UnsafeFileError) {
        throw new SandboxError('invalid_argument', `'${path}' is not a regular file inside the workspace`, {
          path,
          reason: err.reason,
        });
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw notFound('file', path, 'List the workspace files with list_artifacts.');
      }
      if (err instanceof LockedFileError) {
        throw new SandboxError(
          'invalid_argument',
          `'${path}' is locked by a process in the box`,
          { path, reason: 'locked' },
          'A process in the box holds a lease on the file (fcntl F_SETLEASE); read it after that process ends or releases it.',
        );
      }
      throw err;
    }
    if (offset > size) {
      throw new SandboxError(
        'invalid_argument',
        `offset ${offset} is past the end of '${path}' (${size} bytes)`,
        { path, offset, size },
        'Read from an offset below the size, or from 0.',
      );
    }
    const rel = toWorkspaceRel(root, abs);
    const whole = offset === 0 && range.length >= size;
    const c = await categorize(rel, head.subarray(0, HEAD_BYTES), whole && head.length <= HEAD_BYTES);
    const meta = {
      path: rel,
      uri: artifactUri(scope.sessionId, rel),
      mime: c.mime,
      category: c.category,
      size,
    };
    const atEnd = offset + range.length >= size;
    // Whole characters only: skip the tail of one cut at the start, leave one cut at the end to the next range.
    let lead = 0;
    while (offset > 0 && lead < 3 && lead < range.length && (range[lead]! & 0xc0) === 0x80) lead++;
    const body = range.subarray(lead, atEnd ? range.length : range.length - incompleteTail(range));
    const text = decodeUtf8(body, true);
    const span = (start: number, length: number) => ({
      offset: start,
      length,
      next_offset: start + length < size ? start + length : null,
      truncated: start > 0 || start + length < size,
    });
    if (text !== null && (body.length > 0 || range.length === 0)) {
      return { ...meta, ...span(offset + lead, body.length), encoding: 'utf8', text };
    }
    return {
      ...meta,
      ...span(offset, range.length),
      encoding: 'base64',
      base64: Buffer.from(range.buffer, range.byteOffset, range.length).toString('base64'),
    };
  }

  /** Writes the history as notebooks/<name>.ipynb (nbformat 4.5) and returns it as an artifact. */
  async exportNotebook(
    scope: SessionScope,
    history: readonly NotebookHistoryEntry[],
    name?: string,
  ): Promise<NotebookExport> {
    const root = await this.root(scope);
    const now = this.now();
    const file = notebookFileName(name ?? timestampName(now));
    if (!file) {
      throw new SandboxError(
        'invalid_argument',
        `'${name}' is not a usable notebook name`,
        { name },
        "Use letters, digits, '.', '-' and '_' (up to 100), e.g. 'analysis'.",
      );
    }
    const notebook = buildNotebook(history, { sessionId: scope.sessionId, exportedAt: now.toISOString() });
    const data = Buffer.from(JSON.stringify(notebook, null, 1) + '\n', 'utf8');
    const abs = resolveInWorkspace(root, `notebooks/${file}`);
    await writeAtomic(abs, root, data);
    const artifact = await this.hostWritten(scope, root, abs, data);
    return { path: artifact.path, uri: artifact.uri, cell_count: notebook.cells.length, artifact };
  }
}
