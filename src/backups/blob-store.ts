// The content-addressed blob store shared by all backups and sessions (<dataDir>/blobs/sha256/<2>/<62>); a blob appears only by rename of a durable temp file and must never be modified in place.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SparseWriter } from '../fsafe/sparse-write.js';
import { dirname, join } from 'node:path';

const SHA_RE = /^[0-9a-f]{64}$/;

export type BlobCheck = 'ok' | 'missing' | 'corrupt';

export function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads an open blob from where it stands to its end through `buf`, handing each chunk to `onChunk` (which
 * must be done with `buf` when it resolves); returns the hex sha256 of what was read.
 */
export async function hashBlob(
  fh: FileHandle,
  buf: Buffer,
  onChunk?: (bytes: number) => Promise<void>,
): Promise<string> {
  const hash = createHash('sha256');
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    if (onChunk) await onChunk(bytesRead);
  }
  return hash.digest('hex');
}

export class BlobStore {
  readonly shaRoot: string;
  readonly tmpDir: string;

  constructor(dataDir: string) {
    this.shaRoot = join(dataDir, 'blobs', 'sha256');
    this.tmpDir = join(dataDir, 'blobs', 'tmp');
    mkdirSync(this.shaRoot, { recursive: true, mode: 0o700 });
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  pathOf(sha: string): string {
    if (!SHA_RE.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return join(this.shaRoot, sha.slice(0, 2), sha.slice(2));
  }

  has(sha: string): boolean {
    return existsSync(this.pathOf(sha));
  }

  /** A fresh temp path; the pid prefix lets recovery tell a dead writer's leftovers from a live one's. */
  tempPath(): string {
    return join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Writes a temp blob (zeros as a hole), not yet durable: the caller makes it durable (see makeDurable) before
   * placing it.
   */
  async writeTemp(data: Uint8Array): Promise<string> {
    const path = this.tempPath();
    const fh = await open(path, 'wx', 0o444);
    try {
      const writer = new SparseWriter(fh);
      await writer.write(data);
      await writer.finish();
    } finally {
      await fh.close();
    }
    return path;
  }

  /**
   * Moves a written, durable temp into place unless the blob is already there (then the temp is dropped).
   * Synchronous so it can run inside the SQLite transaction that records the reference. True when placed.
   */
  place(tmp: string, sha: string): boolean {
    const final = this.pathOf(sha);
    if (existsSync(final)) {
      unlinkSync(tmp);
      return false;
    }
    mkdirSync(this.shardOf(sha), { recursive: true, mode: 0o700 });
    renameSync(tmp, final);
    return true;
  }

  /** The folder holding blob sha; fsync it (and shaRoot, in case it was created) to make a place() durable. */
  shardOf(sha: string): string {
    return dirname(this.pathOf(sha));
  }

  /** Deletes a blob; returns the bytes freed (0 when it was already gone). */
  remove(sha: string): number {
    const path = this.pathOf(sha);
    try {
      const size = statSync(path).size;
      unlinkSync(path);
      return size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  }

  list(): string[] {
    const out: string[] = [];
    for (const shard of readdirSync(this.shaRoot)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const rest of readdirSync(join(this.shaRoot, shard))) {
        const sha = shard + rest;
        if (SHA_RE.test(sha)) out.push(sha);
      }
    }
    return out;
  }

  /** Opens blob sha for reading (the caller closes it); null when the store lacks it. */
  async openBlob(sha: string): Promise<FileHandle | null> {
    try {
      return await open(this.pathOf(sha), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Re-hashes a blob, reading through `buf`. */
  async check(sha: string, buf: Buffer): Promise<BlobCheck> {
    const fh = await this.openBlob(sha);
    if (fh === null) return 'missing';
    try {
      return (await hashBlob(fh, buf)) === sha ? 'ok' : 'corrupt';
    } finally {
      await fh.close();
    }
  }

  /** Removes temp files whose writer is gone; returns how many. */
  sweepTemps(writerGone: (pid: number) => boolean): number {
    let n = 0;
    for (const name of readdirSync(this.tmpDir)) {
      const pid = Number(name.split('-', 1)[0]);
      if (!Number.isInteger(pid) || writerGone(pid)) {
        try {
          unlinkSync(join(this.tmpDir, name));
          n++;
        } catch {
          // another recoverer got it first
        }
      }
    }
    return n;
  }
}
