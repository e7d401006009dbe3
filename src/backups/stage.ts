// Materializes backup content from the blob store (a manifest into a staging folder, or one file), re-hashing every byte; never installs a damaged blob or writes outside the folder it is given.
import {
  constants,
  chmodSync,
  chownSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import type { Owner } from '../fsafe/dir.js';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupFileRow } from '../store/backups-repo.js';
import { hashBlob, type BlobStore, type BlobCheck } from './blob-store.js';
import { makeDurable } from './durability.js';
import { faultPoint } from './fault.js';
import { forEachLimit } from '../for-each-limit.js';
import type { ScratchPool } from './scratch.js';

export interface StageReport {
  missing: string[];
  corrupt: string[];
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
      const digest = await hashBlob(src, buf, async (bytesRead) => {
        let off = 0;
        while (off < bytesRead) off += (await out.write(buf, off, bytesRead - off)).bytesWritten;
      });
      if (digest !== sha) return 'corrupt';
      await out.chmod(mode & 0o777);
      const t = new Date(mtimeMs);
      await out.utimes(t, t);
      if (sync) await out.datasync();
      return 'ok';
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

/**
 * Builds the manifest's tree under `dest` (created here, mode 0700). Folders get their modes last, deepest
 * first, so a read-only folder does not block writing its children. Everything is durable before returning,
 * because a rollback's commit point declares this tree complete; one barrier for the whole tree instead of
 * an fsync per file keeps that affordable.
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
  // The staging folder is the server's own (beside the workspace, invisible to the box): paths are safe here.
  mkdirSync(dest, { mode: 0o700 });
  const dirs = rows.filter((r) => r.kind === 'dir');
  for (const d of dirs) {
    mkdirSync(join(dest, d.path), { mode: 0o700 });
    if (owner) chownSync(join(dest, d.path), owner.uid, owner.gid);
  }
  const missing: string[] = [];
  const corrupt: string[] = [];
  const written: string[] = [];
  let first = true;
  await forEachLimit(
    rows.filter((r) => r.kind !== 'dir'),
    opts.concurrency,
    async (r) => {
      const abs = join(dest, r.path);
      if (r.kind === 'symlink') {
        materializeSymlink(r.target ?? '', abs, r.mtime_ms, owner);
      } else {
        const res = await opts.scratch.with((buf) =>
          materializeFile(blobs, r.sha256 ?? '', abs, r.mode, r.mtime_ms, false, buf, owner),
        );
        written.push(abs);
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
  const dirPaths: string[] = [];
  for (const d of [...dirs].reverse()) {
    const abs = join(dest, d.path);
    const t = new Date(d.mtime_ms);
    utimesSync(abs, t, t);
    // Owner read is kept until the barrier, which may need to open the folder; the final mode follows.
    chmodSync(abs, (d.mode & 0o777) | 0o500);
    dirPaths.push(abs);
  }
  await makeDurable(written, [...dirPaths, dest], dest, opts.concurrency * 2);
  for (const d of [...dirs].reverse()) {
    if (((d.mode & 0o777) | 0o500) !== (d.mode & 0o777)) chmodSync(join(dest, d.path), d.mode & 0o777);
  }
  return { missing, corrupt };
}
