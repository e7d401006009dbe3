// Walks a workspace the box may be changing under it: every folder opened relative to its parent's descriptor, never
// through a symlink, its entries read in batches with the event loop freed every few milliseconds, at most a set number.
import { opendirSync, readdirSync, type BigIntStats, type Dir as FsDir, type Dirent } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { Dir } from '../fsafe/dir.js';
import { DirCache } from '../fsafe/files.js';
import { HOST_TEMP_NAME } from '../workspace/file-io.js';
import type { WalkedDir } from './workspace-watch.js';

export interface FileStat {
  size: number;
  mtimeMs: number;
  mtimeNs: bigint;
  /** ctime cannot be set from user space, so it catches a rewrite whose size and mtime were restored. */
  ctimeNs: bigint;
  ino: bigint;
  mode: number;
  /** Bytes the file takes on disk (st_blocks * 512): far below `size` for a sparse file. */
  allocated: number;
}

/** What a walk stopped at its entry cap left out: it holds nothing about files below these folders. */
export interface Unseen {
  /** The folder whose listing was cut short: of its entries, only those the walk recorded are known. */
  partial: string;
  /** Folders found but never listed. */
  pending: ReadonlySet<string>;
  /** Every folder the walk found (listed or not), to tell a known entry of the partial folder from an unseen one. */
  folders: ReadonlySet<string>;
}

export interface Snapshot {
  /** The workspace's real path; every key of `files` is relative to it. */
  root: string;
  /** Workspace-relative posix path → stat, regular files only. */
  files: Map<string, FileStat>;
  /** Present when the walk stopped at its entry cap. */
  unseen?: Unseen;
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

/** Entries one walk looks at; a workspace holding more is tracked in the first ones only, and results say so. */
export const MAX_WALK_ENTRIES = 200_000;

export function isExcludedPath(rel: string, rules: ExcludeRules = DEFAULT_EXCLUDES): boolean {
  const segments = rel.split('/');
  if (segments.some((s) => rules.names.includes(s))) return true;
  if (HOST_TEMP_NAME.test(segments[segments.length - 1] ?? '')) return true;
  return rules.prefixes.some((p) => rel === p || rel.startsWith(p + '/'));
}

export function toFileStat(st: BigIntStats): FileStat {
  return {
    size: Number(st.size),
    // Whole milliseconds from integer division: Number(ns) alone would round across a millisecond boundary.
    mtimeMs: Number(st.mtimeNs / 1_000_000n) + Number(st.mtimeNs % 1_000_000n) / 1e6,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: st.ino,
    mode: Number(st.mode),
    allocated: Number(st.blocks) * 512,
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
 * Synchronous lstat calls are several times faster than the thread-pool versions for thousands of files; the walk
 * checks the clock every 32 entries and yields to the event loop every few milliseconds so other sessions are
 * not starved, however many entries one folder holds.
 */
const SLICE_MS = 4;

/** Entries read from the kernel per getdents call. */
const LIST_BATCH = 512;

/**
 * Removed or replaced while walking (a folder swapped for a symlink is ELOOP), made unreadable by the box, or nested
 * beyond what a path can name: the box's doing, never a reason to fail the call, so such entries are skipped.
 */
const SKIPPABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ENAMETOOLONG', 'ELOOP']);

function skippable(err: unknown): boolean {
  return SKIPPABLE.has((err as NodeJS.ErrnoException).code ?? '');
}

/** A vanished workspace must fail the walk, not read as "every file deleted". */
function unreadableRoot(workspace: string, err: unknown): Error {
  return new Error(`workspace ${workspace} is not a readable directory: ${(err as Error).message}`, {
    cause: err,
  });
}

function lstatIn(dir: Dir, name: string): BigIntStats | null {
  try {
    return dir.lstat(name);
  } catch (err) {
    if (skippable(err)) return null;
    throw err;
  }
}

function yieldNow(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** A folder's entries, one at a time. */
interface Listing {
  next(): Dirent | null;
  close(): void;
}

/** Folders up to this size (st_size: a few thousand names) are read in one call; larger ones in batches. */
const WHOLE_LIST_BYTES = 64 * 1024;

/**
 * Lists the very folder `dir` holds (through its descriptor, whatever its name is now): a small one in one
 * synchronous call, a large one LIST_BATCH names per getdents, so the caller's clock bounds how long it holds the
 * event loop however many names the folder has.
 */
function openListing(dir: Dir): Listing {
  if (dir.stat().size <= WHOLE_LIST_BYTES) {
    const all = readdirSync(dir.self(), { withFileTypes: true });
    let i = 0;
    return { next: () => all[i++] ?? null, close: () => undefined };
  }
  const d: FsDir = opendirSync(dir.self(), { bufferSize: LIST_BATCH });
  return { next: () => d.readSync(), close: () => d.closeSync() };
}

export interface SnapshotOptions {
  rules?: ExcludeRules;
  /** The workspace's real path when the caller already has it (skips an async realpath per call). */
  resolvedRoot?: string;
  /** Filled with every folder listed, by path and inode (for the folder watch). */
  dirs?: WalkedDir[];
  maxEntries?: number;
}

/**
 * Records every regular file of the workspace with its lstat. Each folder is opened relative to its parent's
 * descriptor (`DirCache`: O_DIRECTORY|O_NOFOLLOW, one name at a time), listed through that descriptor and its
 * entries stat'ed relative to it, so a folder the box swaps for a symlink at any moment is refused, never followed:
 * nothing outside the workspace is ever listed.
 */
export async function snapshot(workspace: string, opts: SnapshotOptions = {}): Promise<Snapshot> {
  const rules = opts.rules ?? DEFAULT_EXCLUDES;
  const maxEntries = opts.maxEntries ?? MAX_WALK_ENTRIES;
  const root = opts.resolvedRoot ?? (await realpath(workspace));
  let top: Dir;
  try {
    top = Dir.openPath(root);
  } catch (err) {
    throw unreadableRoot(workspace, err);
  }
  const dirs = new DirCache(top);
  const files = new Map<string, FileStat>();
  const folders = new Set<string>();
  const stack: string[] = [''];
  let entries = 0;
  let partial: string | null = null;
  let sliceStart = performance.now();
  try {
    while (stack.length > 0 && partial === null) {
      const rel = stack.pop()!;
      let dir: Dir;
      let listing: Listing;
      try {
        dir = dirs.get(rel);
        listing = openListing(dir);
      } catch (err) {
        if (rel === '') throw unreadableRoot(workspace, err);
        if (skippable(err)) continue;
        throw err;
      }
      try {
        if (opts.dirs) opts.dirs.push({ path: rel ? `${root}/${rel}` : root, ino: dir.ino });
        for (;;) {
          let entry: Dirent | null;
          try {
            entry = listing.next();
          } catch (err) {
            if (rel !== '' && skippable(err)) break;
            throw err;
          }
          if (entry === null) break;
          if (++entries > maxEntries) {
            partial = rel;
            break;
          }
          visit(dir, rel, entry);
          if ((entries & 31) === 0 && performance.now() - sliceStart > SLICE_MS) {
            await yieldNow();
            sliceStart = performance.now();
          }
        }
      } finally {
        listing.close();
      }
    }
  } finally {
    dirs.close();
    top.close();
  }
  const snap: Snapshot = { root, files };
  if (partial !== null) snap.unseen = { partial, pending: new Set(stack), folders };
  return snap;

  function visit(dir: Dir, rel: string, entry: Dirent): void {
    const name = entry.name;
    const childRel = rel ? `${rel}/${name}` : name;
    if (entry.isDirectory()) {
      if (!rules.names.includes(name) && !rules.prefixes.includes(childRel)) {
        stack.push(childRel);
        folders.add(childRel);
      }
      return;
    }
    // Symlinks, FIFOs, sockets and devices are never artifacts: reading through them is how a box would reach host
    // files or hang the server.
    if (!entry.isFile() || rules.prefixes.includes(childRel)) return;
    if (name.charCodeAt(0) === 0x2e && HOST_TEMP_NAME.test(name)) return;
    const st = lstatIn(dir, name);
    if (st?.isFile()) files.set(childRel, toFileStat(st));
  }
}

/**
 * Whether `path` lies where the snapshot's walk did not look (it stopped at its entry cap): below a folder it never
 * listed, or below the folder it cut short through a name it had not reached.
 */
export function isUnseen(snap: Snapshot, path: string): boolean {
  const u = snap.unseen;
  if (!u) return false;
  const segs = path.split('/');
  let folder = '';
  for (let i = 0; i < segs.length; i++) {
    if (u.pending.has(folder)) return true;
    const child = folder ? `${folder}/${segs[i]}` : segs[i]!;
    if (folder === u.partial && !u.folders.has(child) && !snap.files.has(child)) return true;
    if (!u.folders.has(child)) return false;
    folder = child;
  }
  return false;
}
