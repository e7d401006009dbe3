// One output stream of one kernel request, as the server reads it: head and tail kept, events capped, and all of it
// streamed to a workspace file once it outgrows the cap, by the rules shell commands follow too (output_rules.json).
import { join } from 'node:path';
import { AtomicFileWriter } from '../workspace/file-io.js';
import type { StreamCapture } from './protocol.js';
import rules from '../agent/output_rules.json' with { type: 'json' };

/** Where a stream past its cap is saved, and how much of it at most (the box's file-size limit). */
export interface SaveTarget {
  workspace: string;
  label: string;
  limitBytes: number;
}

/** Bytes queued for the saved file beyond which reading pauses (the kernel then blocks on a full socket). */
const PAUSE_AT = 16 << 20;
const RESUME_AT = 4 << 20;

function decodeFrom(tail: Buffer): string {
  let i = 0;
  while (i < 3 && i < tail.length && ((tail[i] as number) & 0xc0) === 0x80) i++; // do not start inside a character
  return tail.subarray(i).toString('utf8');
}

/** A rule's text with its {name} fields filled in. */
function fill(template: string, fields: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (all, name: string) => String(fields[name] ?? all));
}

function reason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return rules.no_space;
  return typeof e?.message === 'string' ? e.message : String(err);
}

export class OutputCapture {
  private readonly headN: number;
  private readonly tailN: number;
  /** Everything, until the cap is passed. */
  private chunks: Buffer[] = [];
  spilled = false;
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;
  private evLeft: number;
  private pending: Buffer[] = [];
  private decoder: TextDecoder | undefined;
  // The saved file: opened at the spill, written in order, renamed into place by result().
  private writer: Promise<AtomicFileWriter | null> | undefined;
  private writes: Promise<void> = Promise.resolve();
  private saved = 0;
  private queued = 0;
  private paused = false;
  private writeFailed = false;
  /** Why the file holds less than the whole stream, once it does. */
  private shortfall: string | null = null;

  constructor(
    readonly name: 'stdout' | 'stderr',
    private readonly cap: number,
    private readonly save: SaveTarget,
    /** Called with true when the saved file falls behind (stop reading), false when it caught up. */
    private readonly onPressure?: (pause: boolean) => void,
  ) {
    this.headN = Math.floor(cap / 2);
    this.tailN = cap - this.headN;
    this.evLeft = cap;
  }

  get rel(): string {
    return `${rules.outputs_dir}/${fill(rules.saved_name, { label: this.save.label, stream: this.name })}`;
  }

  feed(data: Buffer): void {
    this.total += data.length;
    if (this.spilled) {
      this.toFile(data);
      this.tail.push(data);
      this.tailBytes += data.length;
      if (this.tailBytes > 2 * this.tailN + rules.tail_slack_bytes) this.trimTail();
    } else {
      this.chunks.push(data);
      if (this.total > this.cap) this.spill();
    }
    if (this.evLeft > 0) {
      const take = data.subarray(0, this.evLeft);
      this.pending.push(take);
      this.evLeft -= take.length;
    }
  }

  private spill(): void {
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.head = Buffer.from(all.subarray(0, this.headN));
    this.tail = [Buffer.from(all.subarray(all.length - this.tailN))];
    this.tailBytes = this.tail[0]!.length;
    this.spilled = true;
    this.writer = AtomicFileWriter.open(join(this.save.workspace, this.rel), this.save.workspace).catch(
      (err: unknown) => {
        // The box made the folder unusable, or the disk is full: the capped text is all there is.
        this.shortfall ??= fill(rules.note_not_saved, { reason: reason(err) });
        return null;
      },
    );
    this.toFile(all);
  }

  private toFile(data: Buffer): void {
    const room = this.save.limitBytes - this.saved;
    if (room < data.length && !this.writeFailed) {
      this.shortfall ??= fill(rules.note_size_limit, {
        path: this.rel,
        limit: this.save.limitBytes,
        stream: this.name,
      });
    }
    if (room <= 0 || this.writeFailed) return;
    const piece = data.length <= room ? data : data.subarray(0, room);
    this.saved += piece.length;
    this.queued += piece.length;
    if (!this.paused && this.queued > PAUSE_AT) {
      this.paused = true;
      this.onPressure?.(true);
    }
    this.writes = this.writes.then(async () => {
      const w = await this.writer;
      try {
        if (w && !this.writeFailed) await w.write(piece);
      } catch (err) {
        this.writeFailed = true; // a full disk: the file keeps what fitted
        this.shortfall ??= fill(rules.note_write_failed, {
          path: this.rel,
          stream: this.name,
          reason: reason(err),
        });
      }
      this.queued -= piece.length;
      if (this.paused && this.queued < RESUME_AT) {
        this.paused = false;
        this.onPressure?.(false);
      }
    });
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

  /** The capped text for the final message; the saved file is complete and in place when this resolves. */
  async result(): Promise<StreamCapture> {
    if (!this.spilled) return this.shortResult();
    const tailAll = Buffer.concat(this.tail);
    const tail = this.tailN ? tailAll.subarray(Math.max(0, tailAll.length - this.tailN)) : Buffer.alloc(0);
    const headText = new TextDecoder('utf-8').decode(this.head, { stream: true });
    const omitted = this.total - this.head.length - tail.length;
    const text = headText + fill(rules.omitted_marker, { omitted }) + decodeFrom(tail);
    await this.writes;
    const w = await this.writer;
    let savedPath: string | null = null;
    if (w) {
      try {
        await w.commit();
        savedPath = this.rel;
      } catch {
        // Renaming failed (the box removed the folder): nothing was saved.
      }
    }
    return { text, truncated: true, bytes: this.total, saved_path: savedPath, save_note: this.shortfall };
  }

  /** The request ended without a result (the box died): the temp file goes; resolves once it is gone. */
  discard(): Promise<void> {
    this.writeFailed = true;
    return this.writes.then(async () => (await this.writer)?.abort());
  }
}
