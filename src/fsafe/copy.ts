// Copies a workspace file or folder out to a host folder the server owns (an export's staging), through descriptors:
// folders are opened relative to their parent and never through a symlink; only regular files are copied.
import { closeSync, mkdirSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dir } from './dir.js';
import { openRegularIn } from './files.js';

export interface CopyOptions {
  /** Names (at any depth) left out, like __pycache__. */
  skip?: (name: string) => boolean;
}

function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let n = 0;
  while (n < size) {
    const got = readSync(fd, buf, n, size - n, n);
    if (got === 0) break;
    n += got;
  }
  return buf.subarray(0, n);
}

/** Opens what `segs` names under `root`: a folder (Dir) or a regular file (fd), or null when it is neither or gone. */
function openEntry(root: Dir, segs: readonly string[]): { dir: Dir } | { fd: number; size: number } | null {
  if (segs.length === 0) return { dir: root.reopen() };
  let parent: Dir;
  try {
    parent = root.walk(segs.slice(0, -1));
  } catch {
    return null;
  }
  const name = segs[segs.length - 1]!;
  try {
    const st = parent.lstat(name);
    if (st?.isDirectory()) return { dir: parent.openDir(name) };
    if (!st?.isFile()) return null;
    const r = openRegularIn(parent, name);
    return r === 'not_regular' ? null : { fd: r.fd, size: Number(r.stat.size) };
  } catch {
    return null;
  } finally {
    parent.close();
  }
}

/** Total bytes of the regular files at `segs` (a file or a folder tree), walked as copyOut walks it. */
export function sizeOf(root: Dir, segs: readonly string[], opts: CopyOptions = {}): number {
  const e = openEntry(root, segs);
  if (e === null) return 0;
  if ('fd' in e) {
    closeSync(e.fd);
    return e.size;
  }
  let total = 0;
  const walk = (dir: Dir): void => {
    for (const name of dir.names()) {
      if (opts.skip?.(name)) continue;
      const st = dir.lstat(name);
      if (st?.isFile()) total += Number(st.size);
      else if (st?.isDirectory()) {
        let sub: Dir;
        try {
          sub = dir.openDir(name);
        } catch {
          continue;
        }
        try {
          walk(sub);
        } finally {
          sub.close();
        }
      }
    }
  };
  try {
    walk(e.dir);
  } finally {
    e.dir.close();
  }
  return total;
}

/**
 * Copies the file or folder at `segs` to host path `dest` (which must not exist). Symlinks, FIFOs, sockets and devices
 * are left out; a folder swapped for a symlink while copying is left out too. Returns false when nothing was there.
 */
export function copyOut(root: Dir, segs: readonly string[], dest: string, opts: CopyOptions = {}): boolean {
  const e = openEntry(root, segs);
  if (e === null) return false;
  if ('fd' in e) {
    try {
      writeFileSync(dest, readWhole(e.fd, e.size), { flag: 'wx' });
    } finally {
      closeSync(e.fd);
    }
    return true;
  }
  const copyDir = (dir: Dir, to: string): void => {
    mkdirSync(to);
    for (const name of dir.names()) {
      if (opts.skip?.(name)) continue;
      const st = dir.lstat(name);
      if (st?.isDirectory()) {
        let sub: Dir;
        try {
          sub = dir.openDir(name);
        } catch {
          continue; // no longer a folder
        }
        try {
          copyDir(sub, join(to, name));
        } finally {
          sub.close();
        }
      } else if (st?.isFile()) {
        let r: ReturnType<typeof openRegularIn>;
        try {
          r = openRegularIn(dir, name);
        } catch {
          continue; // gone meanwhile
        }
        if (r === 'not_regular') continue;
        try {
          writeFileSync(join(to, name), readWhole(r.fd, Number(r.stat.size)), { flag: 'wx' });
        } finally {
          closeSync(r.fd);
        }
      }
    }
  };
  try {
    copyDir(e.dir, dest);
  } finally {
    e.dir.close();
  }
  return true;
}
