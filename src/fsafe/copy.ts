// Copies a workspace file or folder out to a host folder the server owns (an export's staging), through descriptors:
// folders are opened relative to their parent and never through a symlink; only regular files are copied, in
// fixed-size chunks with async I/O (zeros kept as holes), each file first taking its apparent size from a budget.
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteBudget } from './byte-budget.js';
import { Dir } from './dir.js';
import { openRegularIn, ReadHandle } from './files.js';
import { SparseWriter } from './sparse-write.js';

/** Bytes read and written at a time: a copy never holds more of a file than this. */
export const COPY_CHUNK = 1024 * 1024;
/** Folder entries looked at between two turns of the event loop. */
const ENTRIES_PER_TURN = 256;

export interface CopyOptions {
  /** Names (at any depth) left out, like __pycache__. */
  skip?: (name: string) => boolean;
  /** Bytes (apparent size) the copy may write; a file that would pass it is left out and listed in `leftOut`. */
  budget?: ByteBudget;
  /** Receives the files the budget left out, by path relative to the root given to copyOut. */
  leftOut?: Array<{ path: string; size: number }>;
}

type Entry = { dir: Dir } | { fd: number; size: number };

/** Opens what `segs` names under `root`: a folder (Dir) or a regular file (fd), or null when it is neither or gone. */
function openEntry(root: Dir, segs: readonly string[]): Entry | null {
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

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Calls `visit` for each entry of the tree below `dir` (sorted names, `skip` applied), yielding now and then. */
async function walkTree(
  dir: Dir,
  rel: string,
  opts: CopyOptions,
  visit: {
    file(dir: Dir, name: string, rel: string, size: number): Promise<boolean | void>;
    folder?(rel: string): void;
  },
): Promise<boolean> {
  let seen = 0;
  const walk = async (d: Dir, at: string): Promise<boolean> => {
    visit.folder?.(at);
    for (const name of d.names().sort()) {
      if (++seen % ENTRIES_PER_TURN === 0) await nextTurn();
      if (opts.skip?.(name)) continue;
      const st = d.lstat(name);
      const sub = at === '' ? name : `${at}/${name}`;
      if (st?.isFile()) {
        if ((await visit.file(d, name, sub, Number(st.size))) === false) return false;
      } else if (st?.isDirectory()) {
        let child: Dir;
        try {
          child = d.openDir(name);
        } catch {
          continue; // no longer a folder
        }
        try {
          if (!(await walk(child, sub))) return false;
        } finally {
          child.close();
        }
      }
    }
    return true;
  };
  return walk(dir, rel);
}

/**
 * Total bytes (apparent size) of the regular files at `segs` (a file or a folder tree), walked as copyOut walks it.
 * With `stopAbove`, the walk ends as soon as the total passes it (the total returned is then only "above").
 */
export async function sizeOf(
  root: Dir,
  segs: readonly string[],
  opts: CopyOptions & { stopAbove?: number } = {},
): Promise<number> {
  const e = openEntry(root, segs);
  if (e === null) return 0;
  if ('fd' in e) {
    await new ReadHandle(e.fd).close();
    return e.size;
  }
  let total = 0;
  try {
    await walkTree(e.dir, '', opts, {
      file: async (_d, _n, _r, size) => {
        total += size;
        return opts.stopAbove === undefined || total <= opts.stopAbove;
      },
    });
  } finally {
    e.dir.close();
  }
  return total;
}

/** Copies `size` bytes at most of open file `fd` to new host file `dest`, a chunk at a time. */
async function copyFile(src: ReadHandle, size: number, dest: string, buf: Buffer): Promise<void> {
  const out = await open(dest, 'wx');
  try {
    const writer = new SparseWriter(out);
    while (writer.size < size) {
      const want = Math.min(buf.length, size - writer.size);
      const { bytesRead } = await src.read(buf, 0, want, writer.size);
      if (bytesRead === 0) break; // shrank meanwhile: the copy ends where the file ended
      await writer.write(buf.subarray(0, bytesRead));
    }
    await writer.finish();
  } finally {
    await out.close();
  }
}

/** Takes the file's size from the budget (or lists it as left out), copies it, and closes `fd` in any case. */
async function copyBudgeted(
  fd: number,
  size: number,
  dest: string,
  rel: string,
  opts: CopyOptions,
  buf: Buffer,
): Promise<void> {
  const src = new ReadHandle(fd);
  try {
    if (opts.budget && !opts.budget.take(size)) {
      opts.leftOut?.push({ path: rel, size });
      return;
    }
    await copyFile(src, size, dest, buf);
  } finally {
    await src.close();
  }
}

/**
 * Copies the file or folder at `segs` to host path `dest` (which must not exist). Symlinks, FIFOs, sockets and devices
 * are left out; a folder swapped for a symlink while copying is left out too; a file is copied up to the size it had
 * when opened. Returns false when nothing was there. Paths in `opts.leftOut` are relative to `root`.
 */
export async function copyOut(
  root: Dir,
  segs: readonly string[],
  dest: string,
  opts: CopyOptions = {},
): Promise<boolean> {
  const e = openEntry(root, segs);
  if (e === null) return false;
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  const top = segs.join('/');
  if ('fd' in e) {
    await copyBudgeted(e.fd, e.size, dest, top, opts, buf);
    return true;
  }
  try {
    await walkTree(e.dir, '', opts, {
      folder: (rel) => mkdirSync(rel === '' ? dest : join(dest, rel)),
      file: async (dir, name, rel) => {
        let r: ReturnType<typeof openRegularIn>;
        try {
          r = openRegularIn(dir, name);
        } catch {
          return; // gone meanwhile
        }
        if (r === 'not_regular') return;
        const where = top === '' ? rel : `${top}/${rel}`;
        await copyBudgeted(r.fd, Number(r.stat.size), join(dest, rel), where, opts, buf);
      },
    });
  } finally {
    e.dir.close();
  }
  return true;
}
