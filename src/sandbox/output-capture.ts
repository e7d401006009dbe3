// One output stream of one kernel request, as the server reads it: head and tail kept, events capped, all of it
// saved to a workspace file once it outgrows the cap.
import { join } from 'node:path';
import { writeAtomic } from '../artifacts/file-io.js';
import type { StreamCapture } from './protocol.js';

/** The most of one stream the server keeps in memory for the saved file; beyond it the file keeps what fitted. */
export const SAVE_LIMIT_BYTES = 64 << 20;

function decodeFrom(tail: Buffer): string {
  let i = 0;
  while (i < 3 && i < tail.length && ((tail[i] as number) & 0xc0) === 0x80) i++; // do not start inside a character
  return tail.subarray(i).toString('utf8');
}

export class OutputCapture {
  private readonly headN: number;
  private readonly tailN: number;
  /** Everything, until the cap is passed; then the chunks for the saved file. */
  private chunks: Buffer[] = [];
  private kept = 0;
  spilled = false;
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;
  private evLeft: number;
  private pending: Buffer[] = [];
  private decoder: TextDecoder | undefined;
  private readonly saveLimit: number;

  constructor(
    readonly name: 'stdout' | 'stderr',
    private readonly cap: number,
    saveLimit: number,
  ) {
    this.saveLimit = Math.max(saveLimit, cap);
    this.headN = Math.floor(cap / 2);
    this.tailN = cap - this.headN;
    this.evLeft = cap;
  }

  get bytes(): number {
    return this.total;
  }

  feed(data: Buffer): void {
    this.total += data.length;
    if (this.kept < this.saveLimit) {
      const take =
        data.length <= this.saveLimit - this.kept ? data : data.subarray(0, this.saveLimit - this.kept);
      this.chunks.push(take);
      this.kept += take.length;
    }
    if (this.spilled) {
      this.tail.push(data);
      this.tailBytes += data.length;
      if (this.tailBytes > 2 * this.tailN + 65536) this.trimTail();
    } else if (this.total > this.cap) {
      // Until now everything is in chunks (the save limit is at least the cap): head and tail come from it.
      const all = Buffer.concat(this.chunks);
      this.head = Buffer.from(all.subarray(0, this.headN));
      this.tail = [Buffer.from(all.subarray(all.length - this.tailN))];
      this.tailBytes = this.tail[0]!.length;
      this.spilled = true;
    }
    if (this.evLeft > 0) {
      const take = data.subarray(0, this.evLeft);
      this.pending.push(take);
      this.evLeft -= take.length;
    }
  }

  private trimTail(): void {
    const joined = Buffer.concat(this.tail);
    this.tail = [Buffer.from(joined.subarray(joined.length - this.tailN))];
    this.tailBytes = this.tail[0]!.length;
  }

  /** Output not yet sent as an event (at most `cap` bytes in all); final flushes a split character. */
  takeEvents(final = false): string {
    if (this.pending.length === 0 && !final) return '';
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.decoder ??= new TextDecoder('utf-8');
    return this.decoder.decode(data, { stream: !final });
  }

  /** The whole text of a stream that stayed within its cap. */
  shortResult(): StreamCapture {
    const text = this.chunks.length === 0 ? '' : Buffer.concat(this.chunks).toString('utf8');
    this.chunks = [];
    return { text, truncated: false, bytes: this.total, saved_path: null };
  }

  /** The capped text for the final message; saves the whole stream when it outgrew the cap. */
  async result(workspace: string, label: string): Promise<StreamCapture> {
    if (!this.spilled) return this.shortResult();
    const tailAll = Buffer.concat(this.tail);
    const tail = this.tailN ? tailAll.subarray(Math.max(0, tailAll.length - this.tailN)) : Buffer.alloc(0);
    const headText = new TextDecoder('utf-8').decode(this.head, { stream: true });
    const omitted = this.total - this.head.length - tail.length;
    const text = `${headText}\n…[${omitted} bytes omitted]…\n${decodeFrom(tail)}`;
    const rel = `.sandbox/outputs/${label}.${this.name}.txt`;
    let saved: string | null = null;
    try {
      await writeAtomic(join(workspace, rel), workspace, Buffer.concat(this.chunks));
      saved = rel;
    } catch {
      // A full disk, or the box made the folder unusable: the text above is all there is.
    }
    this.chunks = [];
    return { text, truncated: true, bytes: this.total, saved_path: saved };
  }
}
