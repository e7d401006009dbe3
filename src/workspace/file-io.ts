// Host-side reads and writes of workspace files; must never follow a final symlink, open a FIFO or device, or touch a file that resolves outside the workspace.
import { createHash, randomBytes } from 'node:crypto';
import { close, constants, fdatasync, write, type BigIntStats } from 'node:fs';
import { basename, isAbsolute, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { SandboxError } from '../errors.js';
import { Dir, workspaceOwner } from '../fsafe/dir.js';
import { openRegularIn, ReadHandle } from '../fsafe/files.js';
import { HEAD_BYTES } from './categorize.js';

export interface HashResult {
  sha256: string;
  /** Bytes actually hashed (the file may have changed since it was listed). */
  size: number;
  /** The first HEAD_BYTES bytes, for categorizing without a second read. */
  head: Uint8Array;
  /** fstat of the opened file, taken before reading. */
  stat: BigIntStats;
}

export interface HeadResult {
  head: Uint8Array;
  /** True when `head` is the whole file. */
  complete: boolean;
  stat: BigIntStats;
}

/** What the tracker and service need from the disk; injectable so tests can count hashing. */
export interface FileIO {
  /**
   * sha256 of the whole file, streamed. `root` is the real workspace path the file must stay inside. With `maxBytes`,
   * a file longer than that (when opened or while read) or sparse is not read whole: NotHashedError.
   */
  hash(abs: string, root: string, maxBytes?: number): Promise<HashResult>;
  /** The first `bytes` bytes. */
  head(abs: string, root: string, bytes?: number): Promise<HeadResult>;
}

/** Thrown for anything that is not a plain file inside the workspace; callers treat it like a vanished file. */
export class UnsafeFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: 'not_regular' | 'outside_workspace',
  ) {
    super(`refusing to read '${path}': ${reason}`);
    this.name = 'UnsafeFileError';
  }
}

/** Why a file was not hashed: longer than the bytes allowed, or sparse (reading it would mostly hash holes). */
export class NotHashedError extends Error {
  constructor(readonly reason: 'over_budget' | 'sparse') {
    super(`not hashed: ${reason}`);
    this.name = 'NotHashedError';
  }
}

/** Apparent size far above the space the file takes on disk: a box makes a 1 GiB file of holes for free. */
export function isSparse(size: number, allocated: number): boolean {
  return size > 1024 * 1024 && allocated * 4 < size;
}

const closeAsync = promisify(close);
const fdatasyncAsync = promisify(fdatasync);
const writeAsync = (fd: number, data: Uint8Array, off: number, len: number): Promise<number> =>
  new Promise((res, rej) => write(fd, data, off, len, null, (err, n) => (err ? rej(err) : res(n))));

const CHUNK = 256 * 1024;

function escapes(name: string): SandboxError {
  return new SandboxError('invalid_argument', 'The target folder leads outside the workspace', {
    path: name,
    reason: 'escapes_workspace',
  });
}

/** The segments of `abs` below `root`; null when it is not below it. */
function segmentsUnder(root: string, abs: string): string[] | null {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return rel.split(sep).filter((s) => s !== '' && s !== '.');
}

/**
 * Opens a regular file for reading through folder descriptors walked down from the workspace root: no component is
 * followed if it is a symlink, the last one is opened O_NOFOLLOW|O_NONBLOCK, and fstat must say regular file.
 */
export async function openRegular(abs: string, root: string): Promise<{ fh: ReadHandle; stat: BigIntStats }> {
  const segs = segmentsUnder(root, abs);
  if (segs === null || segs.length === 0) throw new UnsafeFileError(abs, 'outside_workspace');
  const top = Dir.openPath(root);
  let dir: Dir;
  try {
    dir = top.walk(segs.slice(0, -1));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a folder on the way was swapped for a symlink or a file while it was opened.
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new UnsafeFileError(abs, 'outside_workspace');
    throw err;
  } finally {
    top.close();
  }
  try {
    const r = openRegularIn(dir, segs[segs.length - 1]!);
    if (r === 'not_regular') throw new UnsafeFileError(abs, 'not_regular');
    return { fh: new ReadHandle(r.fd), stat: r.stat };
  } finally {
    dir.close();
  }
}

async function hashFile(abs: string, root: string, maxBytes = Infinity): Promise<HashResult> {
  const { fh, stat } = await openRegular(abs, root);
  try {
    if (maxBytes !== Infinity) {
      if (isSparse(Number(stat.size), Number(stat.blocks) * 512)) throw new NotHashedError('sparse');
      if (Number(stat.size) > maxBytes) throw new NotHashedError('over_budget');
    }
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let head: Uint8Array | null = null;
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      if (head === null) head = Uint8Array.prototype.slice.call(buf, 0, Math.min(bytesRead, HEAD_BYTES));
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
      if (size > maxBytes) throw new NotHashedError('over_budget');
    }
    return { sha256: hash.digest('hex'), size, head: head ?? new Uint8Array(0), stat };
  } finally {
    await fh.close();
  }
}

/** Up to `bytes` bytes from the start of a regular file inside the workspace (see openRegular). */
export async function readHead(abs: string, root: string, bytes = HEAD_BYTES): Promise<HeadResult> {
  const { fh, stat } = await openRegular(abs, root);
  try {
    // No bigger than the file: a large limit on a small file allocates only what is there.
    const want = Math.min(bytes, Number(stat.size));
    const buf = Buffer.alloc(want);
    let n = 0;
    while (n < want) {
      const { bytesRead } = await fh.read(buf, n, want - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    const complete = n < bytes || stat.size <= BigInt(bytes);
    return { head: new Uint8Array(buf.buffer, buf.byteOffset, n), complete, stat };
  } finally {
    await fh.close();
  }
}

export const defaultFileIO: FileIO = { hash: hashFile, head: readHead };

export function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The name of a host-side write's temp file (AtomicFileWriter): never an artifact, and swept after a crash. */
export const HOST_TEMP_NAME = /^\.sbx-[0-9a-f]{16}\.tmp$/;

/**
 * A workspace file written in pieces as data arrives, then renamed into place: a temp file in the target's folder,
 * reached through descriptors only, so readers see the old file or the whole new one, a symlink at the target is
 * replaced, never written through, and no folder swapped for a symlink meanwhile can send the file elsewhere.
 */
export class AtomicFileWriter {
  private done = false;

  private constructor(
    private readonly dir: Dir,
    private readonly fd: number,
    private readonly tmp: string,
    private readonly name: string,
  ) {}

  /**
   * Creates the missing folders (each made and opened relative to its parent, never through a symlink) and the temp
   * file, exclusively, in the target's folder. Everything created is given the workspace's owner.
   */
  static async open(abs: string, root: string, mode = 0o644): Promise<AtomicFileWriter> {
    const segs = segmentsUnder(root, abs);
    if (segs === null || segs.length === 0) throw escapes(basename(abs));
    const top = Dir.openPath(root, workspaceOwner());
    let dir: Dir;
    try {
      dir = top.walk(segs.slice(0, -1), { create: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw escapes(basename(abs));
      if (code === 'ENOTDIR' || code === 'EEXIST') {
        throw new SandboxError('invalid_argument', 'A folder on the way is a file', {
          path: basename(abs),
          reason: 'not_a_directory',
        });
      }
      throw err;
    } finally {
      top.close();
    }
    const tmp = `.sbx-${randomBytes(8).toString('hex')}.tmp`; // matches HOST_TEMP_NAME
    let fd: number;
    try {
      fd = dir.openFile(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    } catch (err) {
      dir.close();
      throw err;
    }
    return new AtomicFileWriter(dir, fd, tmp, segs[segs.length - 1]!);
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await writeAsync(this.fd, data, off, data.length - off);
  }

  /** Closes and renames into place (within the folder's descriptor); `sync` flushes the data to disk first. */
  async commit(sync = false): Promise<void> {
    if (this.done) return;
    this.done = true;
    let renamed = false;
    try {
      try {
        if (sync) await fdatasyncAsync(this.fd);
      } finally {
        await closeAsync(this.fd);
      }
      this.dir.rename(this.tmp, this.dir, this.name);
      renamed = true;
    } finally {
      if (!renamed) unlinkQuiet(this.dir, this.tmp);
      this.dir.close();
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await closeAsync(this.fd).catch(() => undefined);
    unlinkQuiet(this.dir, this.tmp);
    this.dir.close();
  }
}

function unlinkQuiet(dir: Dir, name: string): void {
  try {
    dir.unlink(name);
  } catch {
    // never created or already renamed
  }
}

/**
 * Writes `data` to `abs` atomically: a temp file in the same folder, flushed, then renamed over the target,
 * so a crash leaves the old file or the new one. The rename replaces a symlink at `abs` rather than
 * writing through it.
 */
export async function writeAtomic(abs: string, root: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const w = await AtomicFileWriter.open(abs, root, mode);
  try {
    await w.write(data);
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.commit(true);
}
