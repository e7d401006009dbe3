// Reads sandbox-writable workspace files for hashing and backup; must never read a file whose open descriptor resolves
// outside the workspace, nor read past the bytes its backup's budget granted it.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { BlobStore } from './blob-store.js';
import { formatBytes, type ByteBudget } from '../fsafe/byte-budget.js';
import { SparseWriter } from '../fsafe/sparse-write.js';
import { HEAD_BYTES } from '../workspace/categorize.js';
import { LockedFileError, openRegularIn, ReadHandle, type DirCache } from '../fsafe/files.js';
import { statKeyOf } from './scan.js';

/** Size of the reusable read buffers: files up to this size are read once between hashing and storing. */
export const SCRATCH_BYTES = 4 * 1024 * 1024;
/** A stat key is trusted later only if the file's ctime was this much older than the read: coarse kernel
 *  clocks can leave a write in the same tick as the read without changing any timestamp. */
const RACY_MS = 1000;

export class SkipFile extends Error {}

/**
 * The bytes a file may be read for: `granted` was taken from `budget` when the file was planned (its size then);
 * a file that grew since takes the difference from the budget as it is read, or is skipped.
 */
export interface ReadGrant {
  granted: number;
  budget: ByteBudget;
}

/** Checks `total` bytes read so far against the grant, taking what is missing from its budget. */
function withinGrant(grant: ReadGrant | undefined, total: number): void {
  if (grant === undefined || total <= grant.granted) return;
  if (!grant.budget.take(total - grant.granted)) {
    throw new SkipFile(
      `grew while being read past the backup's byte budget (${formatBytes(grant.budget.limit ?? 0)})`,
    );
  }
  grant.granted = total;
}

export interface HashedFile {
  sha256: string;
  size: number;
  head: Uint8Array;
  /** The whole content when it fit in the read buffer (a view of it); null otherwise. */
  data: Buffer | null;
  statKey: string | null;
}

/**
 * Opens workspace file `rel` for reading through the operation's folder descriptors (no component followed if it is
 * a symlink); anything but a regular file is a SkipFile with the reason.
 */
function openContained(dirs: DirCache, rel: string): { fh: ReadHandle; st: BigIntStats } {
  try {
    const { dir, name } = dirs.locate(rel);
    const r = openRegularIn(dir, name);
    if (r === 'not_regular') throw new SkipFile('no longer a regular file');
    return { fh: new ReadHandle(r.fd), st: r.stat };
  } catch (err) {
    if (err instanceof SkipFile) throw err;
    if (err instanceof LockedFileError) throw new SkipFile('locked by a process in the box (a file lease)');
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SkipFile('vanished while being read');
    if (code === 'ELOOP' || code === 'ENOTDIR')
      throw new SkipFile('a folder on its path is no longer a folder');
    if (code === 'EACCES' || code === 'EPERM') throw new SkipFile(`unreadable (${code})`);
    throw err;
  }
}

/**
 * Hashes a workspace file in one pass, reading into `buf`. When the whole file fits, `data` is a view of it in
 * `buf` (valid only while the caller holds `buf`), so a small file is read once whether or not it is stored.
 */
export async function hashWorkspaceFile(
  dirs: DirCache,
  rel: string,
  buf: Buffer,
  grant?: ReadGrant,
): Promise<HashedFile> {
  const openedAt = Date.now();
  const { fh, st } = openContained(dirs, rel);
  try {
    const hash = createHash('sha256');
    let head: Uint8Array | null = null;
    let filled = 0;
    let hashedBefore = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
      withinGrant(grant, hashedBefore + filled);
      if (filled === buf.length) {
        // Too big to hold: hash what we have and keep streaming through the same buffer.
        head ??= new Uint8Array(buf.subarray(0, HEAD_BYTES));
        hash.update(buf);
        hashedBefore += filled;
        filled = 0;
      }
    }
    const tail = buf.subarray(0, filled);
    hash.update(tail);
    head ??= new Uint8Array(tail.subarray(0, HEAD_BYTES));
    const size = hashedBefore + filled;
    const trustworthy = size === Number(st.size) && Number(st.ctimeNs / 1_000_000n) < openedAt - RACY_MS;
    return {
      sha256: hash.digest('hex'),
      size,
      head,
      data: hashedBefore === 0 ? tail : null,
      statKey: trustworthy ? statKeyOf(st) : null,
    };
  } finally {
    await fh.close();
  }
}

/**
 * Copies a workspace file into a blob temp file (fsynced when asked), hashing what was actually copied; runs of zeros
 * stay holes, so a sparse file's blob is as sparse.
 */
export async function copyToBlobTemp(
  dirs: DirCache,
  rel: string,
  blobs: BlobStore,
  sync: boolean,
  buf: Buffer,
  grant?: ReadGrant,
): Promise<{ tmp: string; sha256: string; size: number }> {
  const { fh } = openContained(dirs, rel);
  const tmp = blobs.tempPath();
  try {
    const out = await open(tmp, 'wx', 0o444);
    try {
      const hash = createHash('sha256');
      const writer = new SparseWriter(out);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        withinGrant(grant, writer.size + bytesRead);
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        await writer.write(chunk);
      }
      await writer.finish();
      if (sync) await out.datasync();
      return { tmp, sha256: hash.digest('hex'), size: writer.size };
    } finally {
      await out.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await fh.close();
  }
}
