// The framing that carries the agent's stdio, the kernel lane and the kernel's output over one container's stdin and
// stdout (the server's half of assets/docker_init.py): one byte of channel, four of length (big-endian), the payload.

/** Server → box channels. */
export const TO_BOX = { agent: 0, lane: 1, report: 2 } as const;
/** Box → server channels. */
export const FROM_BOX = { agent: 0, lane: 1, stdout: 2, stderr: 3, report: 4 } as const;

const HEADER = 5;
/** A frame larger than this is a broken box, never a message (docker_init.py reads at most 64 KiB at a time). */
export const MAX_FRAME_BYTES = 1 << 24;

export function encodeFrame(channel: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt8(channel, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames; a frame over the limit or on an unknown channel calls onError once and stops. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(
    private readonly onFrame: (channel: number, payload: Buffer) => void,
    private readonly onError: (reason: string) => void,
    private readonly channels = 5,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    while (this.buf.length - at >= HEADER) {
      const channel = this.buf.readUInt8(at);
      const size = this.buf.readUInt32BE(at + 1);
      if (channel >= this.channels || size > MAX_FRAME_BYTES) {
        this.failed = true;
        this.onError(
          channel >= this.channels ? `a frame on unknown channel ${channel}` : `a frame of ${size} bytes`,
        );
        return;
      }
      if (this.buf.length - at < HEADER + size) break;
      this.onFrame(channel, this.buf.subarray(at + HEADER, at + HEADER + size));
      at += HEADER + size;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }
}
