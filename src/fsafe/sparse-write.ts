// Writes a file chunk by chunk and leaves a chunk of zeros unwritten, as a hole: a sparse source (whose holes read as
// zeros) stays sparse in the copy, so a file of 1 GiB that takes 4 KiB on disk never takes 1 GiB on the host.
import type { FileHandle } from 'node:fs/promises';

/** Hole granularity: a block of this many zero bytes is skipped (a multiple of any filesystem block size). */
const BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(BLOCK);

/** True when the block at `off` (or what is left of the chunk) is all zeros (memcmp against a zero block). */
function zeroBlock(chunk: Uint8Array, off: number): boolean {
  const n = Math.min(BLOCK, chunk.length - off);
  return Buffer.compare(chunk.subarray(off, off + n), ZEROS.subarray(0, n)) === 0;
}

/** Appends chunks to a new, empty file at positions it tracks itself; call finish() to set the final length. */
export class SparseWriter {
  private length = 0;

  constructor(private readonly out: FileHandle) {}

  /** Bytes written so far, holes included. */
  get size(): number {
    return this.length;
  }

  /** Writes the chunk's runs of blocks that hold data, each in one write; its 64 KiB blocks of zeros stay holes. */
  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      while (off < chunk.length && zeroBlock(chunk, off)) off += BLOCK;
      let end = off;
      while (end < chunk.length && !zeroBlock(chunk, end)) end += BLOCK;
      end = Math.min(end, chunk.length);
      await this.writeAll(chunk.subarray(off, end), this.length + off);
      off = end;
    }
    this.length += chunk.length;
  }

  private async writeAll(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      done += (await this.out.write(data, done, data.length - done, position + done)).bytesWritten;
    }
  }

  /** Sets the file's length, so a trailing hole counts (the file ends where the source ended). */
  async finish(): Promise<void> {
    await this.out.truncate(this.length);
  }
}
