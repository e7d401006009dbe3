// Files inside a workspace reached only through folder descriptors: opening a plain file for reading (never a symlink,
// FIFO or device), reading it, and resolving a workspace-relative path into its folder and last name.
import { close, closeSync, constants, fstat, fstatSync, read, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import { Dir, errnoError, type Name } from './dir.js';

const readAsync = promisify(read);
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);

/** A descriptor opened for reading, with the few FileHandle methods callers use. */
export class ReadHandle {
  private closed = false;

  constructor(readonly fd: number) {}

  async read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesRead: number }> {
    const { bytesRead } = await readAsync(this.fd, buf, offset, length, position);
    return { bytesRead };
  }

  async stat(): Promise<BigIntStats> {
    return (await fstatAsync(this.fd, { bigint: true })) as unknown as BigIntStats;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeAsync(this.fd);
  }
}

/** Splits a workspace-relative posix path into segments, refusing '..', absolute paths and empty ones. */
export function relSegments(rel: string): string[] {
  if (rel.startsWith('/')) throw errnoError('EINVAL', `not a relative path: ${rel}`);
  const segs = rel.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw errnoError('EINVAL', `path contains '..': ${rel}`);
  return segs;
}

export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A file a process in the box holds a lease on (fcntl F_SETLEASE): an O_NONBLOCK open fails with EWOULDBLOCK, and a
 * blocking one would wait for the lease-break time. Its code is EACCES, so every caller that skips a file the box
 * made unreadable skips this one the same way; `reason` tells the two apart.
 */
export class LockedFileError extends Error {
  readonly code = 'EACCES';
  readonly reason = 'locked';

  constructor() {
    super('the file is locked by a process in the box (a lease on it)');
    this.name = 'LockedFileError';
  }
}

/**
 * Opens `name` in `dir` for reading: O_NOFOLLOW (a symlink is ELOOP), O_NONBLOCK (a FIFO or a lease cannot stall us),
 * then fstat on the descriptor; anything but a regular file is closed again and answered 'not_regular'; a leased file
 * is a LockedFileError.
 */
export function openRegularIn(dir: Dir, name: Name): { fd: number; stat: BigIntStats } | 'not_regular' {
  let fd: number;
  try {
    fd = dir.openFile(name, READ_FLAGS);
  } catch (err) {
    const c = (err as NodeJS.ErrnoException).code;
    if (c === 'ELOOP' || c === 'ENXIO' || c === 'ENODEV') return 'not_regular';
    if (c === 'EAGAIN' || c === 'EWOULDBLOCK') throw new LockedFileError();
    throw err;
  }
  const stat = fstatSyncBig(fd);
  if (!stat.isFile()) {
    closeQuiet(fd);
    return 'not_regular';
  }
  return { fd, stat };
}

function fstatSyncBig(fd: number): BigIntStats {
  try {
    return fstatSync(fd, { bigint: true });
  } catch (err) {
    closeQuiet(fd);
    throw err;
  }
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Folder descriptors of one operation, by workspace-relative folder path, so thousands of files in a few folders
 * cost a few walks. Used synchronously only (a descriptor is never closed while a call that uses it is pending);
 * entries beyond `max` are closed oldest first.
 */
export class DirCache {
  private readonly dirs = new Map<string, Dir>();

  constructor(
    readonly root: Dir,
    private readonly max = 64,
  ) {}

  /** The folder at `relDir` ('' for the root), walked without following links; throws ELOOP/ENOTDIR/ENOENT. */
  get(relDir: string): Dir {
    if (relDir === '') return this.root;
    const hit = this.dirs.get(relDir);
    if (hit) {
      this.dirs.delete(relDir);
      this.dirs.set(relDir, hit);
      return hit;
    }
    const cut = relDir.lastIndexOf('/');
    const parent = this.get(cut < 0 ? '' : relDir.slice(0, cut));
    const d = parent.openDir(relDir.slice(cut + 1));
    this.dirs.set(relDir, d);
    if (this.dirs.size > this.max) {
      const [oldKey, old] = this.dirs.entries().next().value as [string, Dir];
      this.dirs.delete(oldKey);
      old.close();
    }
    return d;
  }

  /** The folder holding `rel` and its last name. */
  locate(rel: string): { dir: Dir; name: string } {
    const cut = rel.lastIndexOf('/');
    return { dir: this.get(cut < 0 ? '' : rel.slice(0, cut)), name: rel.slice(cut + 1) };
  }

  close(): void {
    for (const d of this.dirs.values()) d.close();
    this.dirs.clear();
  }
}
