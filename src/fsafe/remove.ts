// Removes folder trees through descriptors: never follows a link (a folder swapped for a symlink mid-way is unlinked,
// not entered), handles any depth and path length, and keeps a bounded number of descriptors open.
import { rmdir, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Dir, errnoError, type Name } from './dir.js';

/** Folders held open at once; above it, ancestors are closed and found again through '..' of their child. */
const MAX_OPEN = 128;
/** Times a folder is listed again after it looked empty, for entries created while it was being emptied. */
const RELISTS = 50;
/** Whole restarts after a folder was moved under the walk (only a running process in the tree can do that). */
const RESTARTS = 20;
const SLICE_MS = 4;
/**
 * Unlinks of one folder's entries in flight at once. One after another on the main thread, unlinks of files that hold
 * data each wait in the kernel when the machine is busy (2,000 files of 50 KB on this VM's ext4 at
 * load average 7-10: 1.2-6.2 s, against 0.25-0.55 s issued concurrently through the thread pool as fs.rm does).
 */
const UNLINK_BATCH = 16;
/** Subtrees of the folder being removed that are emptied at once (each holding at most MAX_OPEN / SUBTREES folders). */
const SUBTREES = 4;

interface Frame {
  dir: Dir | null;
  name: Buffer;
  dev: bigint;
  ino: bigint;
  names: Buffer[];
  next: number;
  relists: number;
  /** Whether `names` went through the concurrent unlink pass (what is left are folders and refusals). */
  swept: boolean;
}

class Moved extends Error {}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function frameOf(dir: Dir, name: Buffer): Frame {
  return { dir, name, dev: dir.dev, ino: dir.ino, names: dir.list(), next: 0, relists: 0, swept: false };
}

/**
 * Unlinks `names` of `dir` concurrently, each relative to the folder's descriptor (held open until all have settled);
 * returns the names still to handle one by one: folders (EISDIR) and anything refused or failed, whose error the
 * one-by-one pass meets again and deals with.
 */
async function unlinkMany(dir: Dir, names: Buffer[]): Promise<Buffer[]> {
  const left: Buffer[] = [];
  for (let i = 0; i < names.length; i += UNLINK_BATCH) {
    const chunk = names.slice(i, i + UNLINK_BATCH);
    const results = await Promise.allSettled(chunk.map(async (n) => unlink(dir.at(n))));
    results.forEach((r, k) => {
      if (r.status === 'rejected' && code(r.reason) !== 'ENOENT') left.push(chunk[k]!);
    });
  }
  return left;
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
async function removeOnce(parent: Dir, name: Buffer, maxOpen = MAX_OPEN): Promise<void> {
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
    swept: true,
  };
  let sliceStart = performance.now();
  try {
    while (frames.length > 0) {
      const f = frames[frames.length - 1]!;
      const dir = f.dir!;
      if (!f.swept) {
        f.swept = true;
        f.names = await unlinkMany(dir, f.names);
        f.next = 0;
        sliceStart = performance.now();
        continue;
      }
      if (f.next >= f.names.length) {
        const again = f.relists < RELISTS ? dir.list() : [];
        if (again.length > 0) {
          f.relists++;
          f.names = again;
          f.next = 0;
          f.swept = false;
          continue;
        }
        // Empty: remove it from its parent, reopening the parent first when it was closed.
        frames.pop();
        const up = frames[frames.length - 1] ?? parentFrame;
        if (up.dir === null) up.dir = reopenByIno(dir, up);
        dir.close();
        try {
          // Through the thread pool, for the same reason as the unlinks (a folder's block is freed too).
          await rmdir(up.dir.at(f.name));
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
      const far = frames.length - 1 - maxOpen;
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

/**
 * A head start for a folder: its files unlinked and its subfolders emptied and removed concurrently (SUBTREES at a
 * time), each through removeOnce relative to the folder's descriptor. Best effort: whatever fails here (a mount, a
 * refusal, a folder moved meanwhile) is met again by the one-by-one walk of the whole entry that follows.
 */
async function removeSubtrees(parent: Dir, name: Buffer): Promise<void> {
  let top: Dir;
  try {
    top = parent.openDir(name);
  } catch {
    return; // gone, not a folder, or a symlink: the walk handles it
  }
  try {
    if (top.dev !== parent.dev) return;
    const folders = await unlinkMany(top, top.list());
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < folders.length) {
        const sub = folders[next++]!;
        try {
          await removeOnce(top, sub, MAX_OPEN / SUBTREES);
        } catch {
          // left for the walk
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SUBTREES, folders.length) }, worker));
  } catch {
    // unreadable: left for the walk
  } finally {
    top.close();
  }
}

/** Removes entry `name` of `parent` and everything below it. Never follows a symlink; any depth. */
export async function removeEntry(parent: Dir, name: Name): Promise<void> {
  const raw = typeof name === 'string' ? Buffer.from(name) : name;
  await removeSubtrees(parent, raw);
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
