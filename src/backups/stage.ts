// Materializes backup content from the blob store (a manifest into a staging folder, or one file), re-hashing every byte; never installs a damaged blob or writes outside the folder it is given.
import {
  close,
  closeSync,
  constants,
  fchmod,
  fsync,
  fsyncSync,
  futimes,
  futimesSync,
  fchmodSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  symlinkSync,
  write,
} from 'node:fs';
import { Dir, withDir, type Owner } from '../fsafe/dir.js';
import { DirCache } from '../fsafe/files.js';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { BackupFileRow } from '../store/backups-repo.js';
import { hashBlob, type BlobStore, type BlobCheck } from './blob-store.js';
import { syncfs, wantsSyncfs } from './durability.js';
import { faultPoint } from './fault.js';
import { forEachLimit } from '../for-each-limit.js';
import type { ScratchPool } from './scratch.js';

const closeAsync = promisify(close);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const futimesAsync = promisify(futimes);
const writeAsync = (fd: number, data: Buffer, off: number, len: number): Promise<number> =>
  new Promise((res, rej) => write(fd, data, off, len, null, (err, n) => (err ? rej(err) : res(n))));

/** Folders the staging keeps open at once: a chain deeper than this is walked again from its nearest open folder. */
const OPEN_FOLDERS = 256;

export interface StageReport {
  missing: string[];
  corrupt: string[];
}

/** Copies blob `src` into `fd`, checking the hash, then sets its mode and mtime. */
async function fillFromBlob(
  src: FileHandle,
  sha: string,
  fd: number,
  mode: number,
  mtimeMs: number,
  buf: Buffer,
): Promise<BlobCheck> {
  const digest = await hashBlob(src, buf, async (bytesRead) => {
    let off = 0;
    while (off < bytesRead) off += await writeAsync(fd, buf, off, bytesRead - off);
  });
  if (digest !== sha) return 'corrupt';
  await fchmodAsync(fd, mode & 0o777);
  const t = new Date(mtimeMs);
  await futimesAsync(fd, t, t);
  return 'ok';
}

/**
 * Writes blob `sha` to `dest` (which must not exist), checking the hash, then sets mode and mtime (and fsyncs
 * when `sync`; otherwise the caller makes it durable).
 * On 'missing' or 'corrupt' the partial file is left for the caller to discard with its folder or temp name.
 */
export async function materializeFile(
  blobs: BlobStore,
  sha: string,
  dest: string,
  mode: number,
  mtimeMs: number,
  sync: boolean,
  buf: Buffer,
  owner: Owner | null = null,
): Promise<BlobCheck> {
  const src = await blobs.openBlob(sha);
  if (src === null) return 'missing';
  try {
    const out = await open(
      dest,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      if (owner) await out.chown(owner.uid, owner.gid);
      const res = await fillFromBlob(src, sha, out.fd, mode, mtimeMs, buf);
      if (res === 'ok' && sync) await out.datasync();
      return res;
    } finally {
      await out.close();
    }
  } finally {
    await src.close();
  }
}

/** Creates symlink `dest` (which must not exist) pointing at `target`, with its own times set to mtimeMs. */
export function materializeSymlink(
  target: string,
  dest: string,
  mtimeMs: number,
  owner: Owner | null = null,
): void {
  symlinkSync(target, dest);
  if (owner) lchownSync(dest, owner.uid, owner.gid);
  const t = new Date(mtimeMs);
  lutimesSync(dest, t, t);
}

/** Writes blob `sha` into `fd` (a new file, closed here), checking the hash; `fsyncIt` flushes it before closing. */
async function stageFile(
  blobs: BlobStore,
  r: BackupFileRow,
  fd: number,
  fsyncIt: boolean,
  buf: Buffer,
): Promise<BlobCheck> {
  try {
    const src = await blobs.openBlob(r.sha256 ?? '');
    if (src === null) return 'missing';
    try {
      const res = await fillFromBlob(src, r.sha256 ?? '', fd, r.mode, r.mtime_ms, buf);
      if (res === 'ok' && fsyncIt) await fsyncAsync(fd);
      return res;
    } finally {
      await src.close();
    }
  } finally {
    await closeAsync(fd);
  }
}

/** Folders parents first (a parent's path is shorter), so each one's parent exists when it is made. */
function byDepth(a: BackupFileRow, b: BackupFileRow): number {
  const da = a.path.split('/').length;
  const db = b.path.split('/').length;
  return da - db || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

/**
 * Builds the manifest's tree under `dest` (created here, mode 0700), every entry made relative to its open parent
 * folder, so a tree of any depth is staged (no path is longer than one name). Folders get their modes last,
 * deepest first, so a read-only folder does not block writing its children. Everything is durable before
 * returning, because a rollback's commit point declares this tree complete; one barrier for the whole tree instead
 * of an fsync per file keeps that affordable.
 */
export async function stageManifest(
  rows: readonly BackupFileRow[],
  dest: string,
  blobs: BlobStore,
  opts: {
    concurrency: number;
    scratch: ScratchPool;
    onItem?: (() => void) | undefined;
    /** Given to everything staged (it becomes the workspace's content). */
    owner?: Owner | null;
  },
): Promise<StageReport> {
  const owner = opts.owner ?? null;
  // The staging folder is the server's own (beside the workspace, invisible to the box).
  mkdirSync(dest, { mode: 0o700 });
  const dirs = rows.filter((r) => r.kind === 'dir').sort(byDepth);
  const perItem = !wantsSyncfs(rows.length + 1);
  const cache = new DirCache(Dir.openPath(dest, owner), OPEN_FOLDERS);
  try {
    for (const d of dirs) {
      const { dir, name } = cache.locate(d.path);
      dir.mkdir(name, 0o700);
    }
    const missing: string[] = [];
    const corrupt: string[] = [];
    let first = true;
    await forEachLimit(
      rows.filter((r) => r.kind !== 'dir'),
      opts.concurrency,
      async (r) => {
        // The folder is found and the entry made before the first await: the cache is used synchronously only.
        const { dir, name } = cache.locate(r.path);
        if (r.kind === 'symlink') {
          materializeSymlink(r.target ?? '', dir.at(name) as string, r.mtime_ms, owner);
        } else {
          const fd = dir.openFile(name, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
          const res = await opts.scratch.with((buf) => stageFile(blobs, r, fd, perItem, buf));
          if (res === 'missing') missing.push(r.path);
          else if (res === 'corrupt') corrupt.push(r.path);
        }
        opts.onItem?.();
        if (first) {
          first = false;
          faultPoint('rollback:staging_mid');
        }
      },
    );
    if (missing.length > 0 || corrupt.length > 0) return { missing: missing.sort(), corrupt: corrupt.sort() };
    const deepestFirst = [...dirs].reverse();
    // Owner read and search are kept until the barrier, which may need to open the folder; the final mode follows.
    for (const d of deepestFirst) {
      withDir(folderOf(cache, d.path), (f) => {
        const t = new Date(d.mtime_ms);
        futimesSync(f.fd, t, t);
        fchmodSync(f.fd, (d.mode & 0o777) | 0o500);
        if (perItem) f.sync();
      });
    }
    if (perItem) cache.root.sync();
    else if (!(await syncfs(dest))) fsyncEach(cache, rows);
    for (const d of deepestFirst) {
      if (((d.mode & 0o777) | 0o500) !== (d.mode & 0o777)) {
        withDir(folderOf(cache, d.path), (f) => f.chmod(d.mode & 0o777));
      }
    }
    return { missing, corrupt };
  } finally {
    cache.close();
    cache.root.close();
  }
}

/** A descriptor of its own for the staged folder `rel` (the cache may close its copy while this one is in use). */
function folderOf(cache: DirCache, rel: string): Dir {
  return cache.get(rel).reopen();
}

/** fsync of every staged entry through descriptors, where one syncfs could not run. */
function fsyncEach(cache: DirCache, rows: readonly BackupFileRow[]): void {
  for (const r of rows) {
    if (r.kind === 'symlink') continue;
    if (r.kind === 'dir') {
      withDir(folderOf(cache, r.path), (f) => f.sync());
      continue;
    }
    const { dir, name } = cache.locate(r.path);
    const fd = dir.openFile(name, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  cache.root.sync();
}
