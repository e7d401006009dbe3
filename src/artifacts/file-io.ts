// Host-side reads and writes of workspace files; must never follow a final symlink, open a FIFO or device, or touch a file that resolves outside the workspace.
import { createHash, randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { mkdir, open, readlink, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { SandboxError } from '../errors.js';
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
  /** sha256 of the whole file, streamed. `root` is the real workspace path the file must stay inside. */
  hash(abs: string, root: string): Promise<HashResult>;
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

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 256 * 1024;

let procFdUsable: boolean | null = null;

/**
 * Where the open descriptor really points. A directory on the way could have been swapped for a symlink
 * after the path was checked; the kernel's view of the open file cannot be raced.
 */
async function openedPath(fh: FileHandle): Promise<string | null> {
  if (procFdUsable === false) return null;
  try {
    const p = await readlink(`/proc/self/fd/${fh.fd}`);
    procFdUsable = true;
    return p;
  } catch (err) {
    // Only a machine without /proc turns the check off; any other failure must not skip it silently.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || procFdUsable === true) throw err;
    procFdUsable = false;
    return null;
  }
}

/**
 * Creates the missing folders of `dir` (under the real workspace root) one at a time, checking after each that it
 * really is a folder inside the workspace: a folder the box swapped for a symlink is never followed out of it.
 * Returns the real path of `dir`.
 */
async function mkdirInside(root: string, dir: string, name: string): Promise<string> {
  const escapes = () =>
    new SandboxError('invalid_argument', 'The target folder leads outside the workspace', {
      path: name,
      reason: 'escapes_workspace',
    });
  const rel = relative(root, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw escapes();
  let real = root;
  for (const segment of rel ? rel.split(sep) : []) {
    const next = join(real, segment);
    await mkdir(next).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    real = await realpath(next);
    if (!inside(root, real)) throw escapes();
    if (!(await stat(real)).isDirectory()) {
      throw new SandboxError('invalid_argument', `'${segment}' is a file, not a folder`, {
        path: name,
        reason: 'not_a_directory',
      });
    }
  }
  return real;
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function checkContained(fh: FileHandle, abs: string, root: string): Promise<void> {
  const real = await openedPath(fh);
  if (real !== null && !inside(root, real)) throw new UnsafeFileError(abs, 'outside_workspace');
}

/** Opens a regular file for reading without following a final symlink or blocking on a FIFO. */
export async function openRegular(abs: string, root: string): Promise<{ fh: FileHandle; stat: BigIntStats }> {
  let fh: FileHandle;
  try {
    fh = await open(abs, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeFileError(abs, 'not_regular');
    throw err;
  }
  try {
    const stat = await fh.stat({ bigint: true });
    if (!stat.isFile()) throw new UnsafeFileError(abs, 'not_regular');
    await checkContained(fh, abs, root);
    return { fh, stat };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function hashFile(abs: string, root: string): Promise<HashResult> {
  const { fh, stat } = await openRegular(abs, root);
  try {
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
 * A workspace file written in pieces as data arrives, then renamed into place: a temp file in the target's folder
 * (folders created inside the workspace only, the temp created exclusively and checked to resolve inside it), so
 * readers see the old file or the whole new one, and a symlink at the target is replaced, never written through.
 */
export class AtomicFileWriter {
  private done = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly target: string,
  ) {}

  static async open(abs: string, root: string, mode = 0o644): Promise<AtomicFileWriter> {
    const realDir = await mkdirInside(root, dirname(abs), basename(abs));
    const tmp = join(realDir, `.sbx-${randomBytes(8).toString('hex')}.tmp`); // matches HOST_TEMP_NAME
    const fh = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
    try {
      await checkContained(fh, tmp, root);
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return new AtomicFileWriter(fh, tmp, join(realDir, basename(abs)));
  }

  async write(data: Uint8Array): Promise<void> {
    await this.fh.writeFile(data);
  }

  /** Closes and renames into place; `sync` flushes the data to disk first. */
  async commit(sync = false): Promise<void> {
    if (this.done) return;
    this.done = true;
    let renamed = false;
    try {
      try {
        if (sync) await this.fh.datasync();
      } finally {
        await this.fh.close();
      }
      await rename(this.tmp, this.target);
      renamed = true;
    } finally {
      if (!renamed) await unlink(this.tmp).catch(() => undefined);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
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
