// Directory descriptors that code in a box cannot redirect: every name is looked up once, relative to a folder already
// open, through /proc/self/fd/<fd>/<name> (openat without native code); nothing is ever resolved again by path.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import { workspaceChownTarget } from '../box-user.js';

export type Name = string | Buffer;
export interface Owner {
  uid: number;
  gid: number;
}

const PROC_FD = '/proc/self/fd/';
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** An error with an errno code, like the ones fs throws, for refusals this layer decides itself. */
export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/** One path component: never empty, '.', '..', nor containing '/' or NUL (so the kernel looks up exactly one name). */
export function checkName(name: Name): void {
  const bad =
    typeof name === 'string'
      ? name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')
      : name.length === 0 ||
        name.includes(0x2f) ||
        name.includes(0) ||
        (name.length <= 2 && name.every((b) => b === 0x2e));
  if (bad) throw errnoError('EINVAL', `not a single path component: ${JSON.stringify(String(name))}`);
}

/** Who files the server creates in a workspace belong to (the box user when the server is root), or null. */
export function workspaceOwner(): Owner | null {
  return workspaceChownTarget();
}

let checked = false;

/**
 * Proves once that /proc/self/fd/<fd>/<name> behaves as openat(fd, name): the magic link lands on the very folder
 * the descriptor holds (same dev/ino), and O_NOFOLLOW still refuses a symlink as the last component.
 */
function checkMechanism(dir: Dir): void {
  if (checked) return;
  const probe = openSync(PROC_FD + dir.fd, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const a = fstatSync(probe, { bigint: true });
    if (a.dev !== dir.dev || a.ino !== dir.ino)
      throw new Error('/proc/self/fd does not lead to the open folder');
  } finally {
    closeSync(probe);
  }
  checked = true;
}

/** An open folder; children are addressed relative to it. Close it when done (descriptors are not collected). */
export class Dir {
  private open = true;

  private constructor(
    readonly fd: number,
    readonly dev: bigint,
    readonly ino: bigint,
    /** Given to every file and folder created below this one (fchown right after creation). */
    readonly owner: Owner | null,
  ) {}

  private static adopt(fd: number, owner: Owner | null): Dir {
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isDirectory()) throw errnoError('ENOTDIR', 'not a folder');
      return new Dir(fd, st.dev, st.ino, owner);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Opens a folder the server owns by its absolute path (a workspace root, a staging folder); a symlink as its last
   * component is refused. `owner` applies to what is created below it.
   */
  static openPath(abs: string, owner: Owner | null = null): Dir {
    const d = Dir.adopt(openSync(abs, DIR_FLAGS), owner);
    checkMechanism(d);
    return d;
  }

  /** The path that reaches `name` inside this folder and nowhere else (the last component is looked up once). */
  at(name: Name): string | Buffer {
    if (!this.open) throw errnoError('EBADF', 'folder descriptor already closed');
    checkName(name);
    return typeof name === 'string'
      ? `${PROC_FD}${this.fd}/${name}`
      : Buffer.concat([Buffer.from(`${PROC_FD}${this.fd}/`), name]);
  }

  /** This folder itself, as a path (for listing it or handing it to a tool that takes paths). */
  self(): string {
    if (!this.open) throw errnoError('EBADF', 'folder descriptor already closed');
    return PROC_FD + this.fd;
  }

  /** A child folder; a symlink (ELOOP) or anything not a folder (ENOTDIR) is refused. With `create`, made if missing. */
  openDir(name: Name, opts: { create?: boolean; mode?: number } = {}): Dir {
    const p = this.at(name);
    if (opts.create) this.mkdirQuiet(p, opts.mode ?? 0o755);
    let fd: number;
    try {
      fd = openSync(p, DIR_FLAGS);
    } catch (err) {
      // O_DIRECTORY|O_NOFOLLOW on a symlink is ELOOP on some kernels, ENOTDIR on others: a symlink is always ELOOP here.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || (code === 'ENOTDIR' && this.lstat(name)?.isSymbolicLink())) {
        throw errnoError('ELOOP', 'a symlink, not a folder');
      }
      throw err;
    }
    return Dir.adopt(fd, this.owner);
  }

  private mkdirQuiet(p: string | Buffer, mode: number): void {
    try {
      this.mkdirOwned(p, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  /**
   * mkdir, then the owner: mkdir does not follow a symlink in the last place, so what is there now is the folder
   * just made or a replacement the box put there; fchown only through a descriptor, and only of a folder.
   */
  private mkdirOwned(p: string | Buffer, mode: number): void {
    mkdirSync(p, { mode });
    if (!this.owner) return;
    const fd = openSync(p, DIR_FLAGS);
    try {
      fchownSync(fd, this.owner.uid, this.owner.gid);
    } finally {
      closeSync(fd);
    }
  }

  /** Walks `segments` down from here (each opened as openDir does); the result is a new descriptor. */
  walk(segments: readonly Name[], opts: { create?: boolean; mode?: number } = {}): Dir {
    let cur = this.reopen();
    for (const s of segments) {
      try {
        const next = cur.openDir(s, opts);
        cur.close();
        cur = next;
      } catch (err) {
        cur.close();
        throw err;
      }
    }
    return cur;
  }

  /** A second descriptor of this folder (the magic link leads to the same inode, whatever its name is now). */
  reopen(): Dir {
    return Dir.adopt(openSync(this.self(), constants.O_RDONLY | constants.O_DIRECTORY), this.owner);
  }

  /** Opens a child file; O_NOFOLLOW is always added. New files (O_CREAT) get the owner. */
  openFile(name: Name, flags: number, mode = 0o644): number {
    const fd = openSync(this.at(name), flags | constants.O_NOFOLLOW, mode);
    if (this.owner && flags & constants.O_CREAT) {
      try {
        fchownSync(fd, this.owner.uid, this.owner.gid);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    return fd;
  }

  lstat(name: Name): BigIntStats | null {
    try {
      return lstatSync(this.at(name), { bigint: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }

  stat(): BigIntStats {
    return fstatSync(this.fd, { bigint: true });
  }

  /** Raw names (Buffers keep names that are not UTF-8). */
  list(): Buffer[] {
    return readdirSync(this.self(), { encoding: 'buffer' });
  }

  names(): string[] {
    return readdirSync(this.self());
  }

  /** Removes a non-folder entry; unlink never follows a symlink, so a symlink itself is what goes. */
  unlink(name: Name): void {
    unlinkSync(this.at(name));
  }

  rmdir(name: Name): void {
    rmdirSync(this.at(name));
  }

  mkdir(name: Name, mode = 0o755): void {
    this.mkdirOwned(this.at(name), mode);
  }

  symlink(target: string, name: Name): void {
    const p = this.at(name);
    symlinkSync(target, p);
    if (this.owner) lchownSync(p, this.owner.uid, this.owner.gid);
  }

  /** rename(2) between two open folders; neither name is followed. */
  rename(from: Name, to: Dir, toName: Name): void {
    renameSync(this.at(from), to.at(toName));
  }

  chmod(mode: number): void {
    fchmodSync(this.fd, mode);
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}

/** Runs fn with a folder open, closing it afterwards whatever happens. */
export function withDir<T>(dir: Dir, fn: (d: Dir) => T): T {
  try {
    return fn(dir);
  } finally {
    dir.close();
  }
}

export async function withDirAsync<T>(dir: Dir, fn: (d: Dir) => Promise<T>): Promise<T> {
  try {
    return await fn(dir);
  } finally {
    dir.close();
  }
}
