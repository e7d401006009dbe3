// Splits a byte stream into newline-ended lines with a cap on one line, so a peer that never ends a line cannot make
// this process buffer without bound (the stdio client, the box's agent and kernel).

/** Bytes kept of a dropped line's start and end: enough to find a JSON-RPC id written first or last. */
const PROBE_BYTES = 256;

export interface LineHandlers {
  /** One complete line, without its newline, decoded as UTF-8 (empty lines too). */
  line(text: string): void;
  /** The line being read passed the cap: called once, as soon as it does; the rest of that line is dropped. */
  overflow?(): void;
  /** A dropped line ended: its whole size and its first and last bytes. */
  dropped?(bytes: number, head: string, tail: string): void;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private over: { bytes: number; head: Buffer; tail: Buffer } | null = null;

  constructor(
    readonly maxBytes: number,
    private readonly on: LineHandlers,
  ) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl < 0 ? buf.length : nl;
      if (end > start) this.take(buf.subarray(start, end));
      if (nl < 0) return;
      this.finish();
      start = nl + 1;
    }
  }

  private take(piece: Buffer): void {
    if (this.over) {
      this.over.bytes += piece.length;
      this.over.tail = lastBytes([this.over.tail, piece]);
      return;
    }
    if (this.size + piece.length <= this.maxBytes) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const all = [...this.parts, piece];
    const bytes = this.size + piece.length;
    this.over = {
      bytes,
      head: Buffer.from(Buffer.concat(all, Math.min(PROBE_BYTES, bytes))),
      tail: lastBytes(all),
    };
    this.parts = [];
    this.size = 0;
    this.on.overflow?.();
  }

  private finish(): void {
    const over = this.over;
    if (over) {
      this.over = null;
      this.on.dropped?.(over.bytes, over.head.toString('utf8'), over.tail.toString('utf8'));
      return;
    }
    const [only] = this.parts;
    const text =
      this.parts.length === 1 && only
        ? only.toString('utf8')
        : Buffer.concat(this.parts, this.size).toString('utf8');
    this.parts = [];
    this.size = 0;
    this.on.line(text);
  }
}

/** A copy of the last PROBE_BYTES bytes of bufs (a copy: a slice would keep a whole chunk alive). */
function lastBytes(bufs: Buffer[]): Buffer {
  const keep: Buffer[] = [];
  let n = 0;
  for (let i = bufs.length - 1; i >= 0 && n < PROBE_BYTES; i--) {
    const b = bufs[i] as Buffer;
    const part = b.length > PROBE_BYTES - n ? b.subarray(b.length - (PROBE_BYTES - n)) : b;
    keep.unshift(part);
    n += part.length;
  }
  return Buffer.concat(keep, n);
}
