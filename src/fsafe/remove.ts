// Removes folder trees through descriptors: never follows a link (a folder swapped for a symlink mid-way is unlinked,
// not entered), handles any depth and path length, and keeps a bounded number of descriptors open.
import { basename, dirname } from 'node:path';
import { Dir, errnoError, type Name } from './dir.js';

/** Folders held open at once; above it, ancestors are closed and found again through '..' of their child. */
const MAX_OPEN = 128;
/** Times a folder is listed again after it looked empty, for entries created while it was being emptied. */
const RELISTS = 50;
/** Whole restarts after a folder was moved under the walk (only a running process in the tree can do that). */
const RESTARTS = 20;
const SLICE_MS = 4;

interface Frame {
  dir: Dir | null;
  name: Buffer;
  dev: bigint;
  ino: bigint;
  names: Buffer[];
  next: number;
  relists: number;
}

class Moved extends Error {}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function frameOf(dir: Dir, name: Buffer): Frame {
  return { dir, name, dev: dir.dev, ino: dir.ino, names: dir.list(), next: 0, relists: 0 };
}

/** Reopens a closed ancestor as '..' of its child, checking it is still the same folder. */
function reopenByIno(child: Dir, want: Frame): Dir {
  const d = Dir.openPath(`${child.self()}/..`, child.owner);
  if (d.dev !== want.dev || d.ino !== want.ino) {
    d.close();
    throw new Moved('a folder moved during removal');
  }
  return d;
}

/** Removal never crosses into another filesystem mounted inside the tree: what is mounted there is not the tree's. */
function mountInTheWay(name: Buffer): NodeJS.ErrnoException {
  return errnoError('EBUSY', `a mount point is in the way: ${name.toString('utf8')}`);
}

/** Empties and removes one entry: a folder and all below it, or a file, symlink, socket… (unlinked, never followed). */
async function removeOnce(parent: Dir, name: Buffer): Promise<void> {
  try {
    parent.unlink(name);
    return;
  } catch (err) {
    const c = code(err);
    if (c === 'ENOENT') return;
    if (c !== 'EISDIR' && c !== 'EPERM' && c !== 'EACCES') throw err;
    if (c !== 'EISDIR') {
      // EACCES/EPERM: either a folder (unlink of a folder is EISDIR on Linux, EPERM elsewhere) or no write permission
      // on the parent; granting it back costs nothing when the server owns the parent.
      try {
        parent.chmod(0o700);
      } catch {
        // not ours: the rmdir below reports it
      }
      try {
        parent.unlink(name);
        return;
      } catch (e2) {
        if (code(e2) === 'ENOENT') return;
      }
    }
  }
  let top: Dir;
  try {
    top = parent.openDir(name);
  } catch (err) {
    const c = code(err);
    if (c === 'ENOENT') return;
    // Swapped for something that is not a folder since the unlink: unlink that instead, on the next pass.
    if (c === 'ELOOP' || c === 'ENOTDIR') throw new Moved('entry changed type during removal');
    throw err;
  }
  if (top.dev !== parent.dev) {
    top.close();
    throw mountInTheWay(name);
  }
  const frames: Frame[] = [frameOf(top, name)];
  const parentFrame: Frame = {
    dir: parent,
    name: Buffer.alloc(0),
    dev: parent.dev,
    ino: parent.ino,
    names: [],
    next: 0,
    relists: 0,
  };
  let sliceStart = performance.now();
  try {
    while (frames.length > 0) {
      const f = frames[frames.length - 1]!;
      const dir = f.dir!;
      if (f.next >= f.names.length) {
        const again = f.relists < RELISTS ? dir.list() : [];
        if (again.length > 0) {
          f.relists++;
          f.names = again;
          f.next = 0;
          continue;
        }
        // Empty: remove it from its parent, reopening the parent first when it was closed.
        frames.pop();
        const up = frames[frames.length - 1] ?? parentFrame;
        if (up.dir === null) up.dir = reopenByIno(dir, up);
        dir.close();
        try {
          up.dir.rmdir(f.name);
        } catch (err) {
          const c = code(err);
          if (c === 'ENOENT') continue;
          if (c === 'ENOTDIR' || c === 'ENOTEMPTY' || c === 'EEXIST') {
            // Replaced or refilled behind our back: the parent is listed again, which finds what is there now.
            up.names.push(f.name);
            continue;
          }
          throw err;
        }
        continue;
      }
      const child = f.names[f.next++]!;
      try {
        dir.unlink(child);
        continue;
      } catch (err) {
        const c = code(err);
        if (c === 'ENOENT') continue;
        if (c === 'EACCES' || c === 'EPERM') {
          try {
            dir.chmod(0o700);
            dir.unlink(child);
            continue;
          } catch (e2) {
            const c2 = code(e2);
            if (c2 === 'ENOENT') continue;
            if (c2 !== 'EISDIR' && c2 !== 'EPERM') throw e2;
          }
        } else if (c !== 'EISDIR') {
          throw err;
        }
      }
      let sub: Dir;
      try {
        sub = dir.openDir(child);
      } catch (err) {
        const c = code(err);
        if (c === 'ENOENT') continue;
        if (c === 'ELOOP' || c === 'ENOTDIR') {
          f.next--; // swapped for a non-folder: unlink it on the next look
          continue;
        }
        throw err;
      }
      if (sub.dev !== top.dev) {
        sub.close();
        throw mountInTheWay(child);
      }
      frames.push(frameOf(sub, child));
      const far = frames.length - 1 - MAX_OPEN;
      if (far >= 0 && frames[far]!.dir !== null) {
        frames[far]!.dir!.close();
        frames[far]!.dir = null;
      }
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise<void>((r) => setImmediate(r));
        sliceStart = performance.now();
      }
    }
  } finally {
    for (const f of frames) f.dir?.close();
  }
}

/** Removes entry `name` of `parent` and everything below it. Never follows a symlink; any depth. */
export async function removeEntry(parent: Dir, name: Name): Promise<void> {
  const raw = typeof name === 'string' ? Buffer.from(name) : name;
  for (let attempt = 0; ; attempt++) {
    try {
      await removeOnce(parent, raw);
      if (parent.lstat(raw) === null) return;
      if (attempt >= RESTARTS) throw errnoError('EBUSY', 'the tree kept changing while it was being removed');
    } catch (err) {
      if (!(err instanceof Moved) || attempt >= RESTARTS) throw err;
    }
  }
}

/**
 * Removes a tree the server owns, by absolute path: its parent folder is opened (the server's own folders lead
 * there), then everything below is removed through descriptors. A missing tree is not an error.
 */
export async function removeTree(abs: string): Promise<void> {
  let parent: Dir;
  try {
    parent = Dir.openPath(dirname(abs));
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  try {
    await removeEntry(parent, basename(abs));
  } finally {
    parent.close();
  }
}
