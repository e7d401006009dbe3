// The server's end of tunnel_mux.py: the frames (kind, connection id, length, bytes) that carry the connections a box
// makes to its in-box socket over one exec stream, each connected here to a host Unix socket (the allowlist proxy).
// Every frame from the box is checked: an unknown kind, a wrong size, an id out of order, data past the window, more
// connections than the cap: the tunnel ends (its connections with it); the server and the box's other streams go on.
import net from 'node:net';

export const KIND = { ready: 0, open: 1, data: 2, eof: 3, close: 4, ack: 5 } as const;
const HEADER = 9;
/** Largest payload of a frame, either way (tunnel_mux.py's CHUNK). */
export const MUX_CHUNK = 1 << 16;
/** Bytes of one connection sent and not yet acknowledged, per direction (tunnel_mux.py's WINDOW). */
export const MUX_WINDOW = 1 << 18;
export const MUX_MAX_CONNECTIONS = 64;
/**
 * Bytes queued toward the box that it has not read. An honest box reads them as they come (at most 64 connections of
 * a window and their acknowledgements, about 20 MiB); one whose tunnel was stopped while it forges frames does not.
 */
export const MUX_MAX_QUEUED = 32 << 20;

export function encodeMuxFrame(kind: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(id, 1);
  head.writeUInt32BE(payload.length, 5);
  return Buffer.concat([head, payload]);
}

interface Conn {
  socket: net.Socket;
  /** Bytes the box sent on it that the host socket has not taken yet. */
  inFlight: number;
  /** Bytes sent to the box and not acknowledged. */
  unacked: number;
  boxEof: boolean;
  hostEof: boolean;
}

export class MuxEnd {
  private buf = Buffer.alloc(0);
  private readonly conns = new Map<number, Conn>();
  private lastId = 0;
  private ready = false;
  private ended = false;
  /** Bytes passed on to the host per connection and not yet acknowledged to the box: one ACK each per turn. */
  private readonly acks = new Map<number, number>();

  /**
   * send: writes a frame to the box and answers how many bytes wait to be written to it. onReady: the box listens.
   * onEnd: the tunnel is over, with the reason a frame broke the protocol (null when it was closed from here).
   */
  constructor(
    private readonly hostSocket: string,
    private readonly send: (frame: Buffer) => number,
    private readonly onReady: () => void,
    private readonly onEnd: (violation: string | null) => void,
  ) {}

  get connections(): number {
    return this.conns.size;
  }

  /**
   * Connections not yet ended on both sides: the box forgets one once both ended and may open the next in the same
   * turn, before its host socket here has closed.
   */
  private live(): number {
    let n = 0;
    for (const c of this.conns.values()) if (!(c.boxEof && c.hostEof)) n++;
    return n;
  }

  /** Bytes from the box (the exec's stdout). */
  push(chunk: Buffer): void {
    if (this.ended) return;
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (data.length >= HEADER && !this.ended) {
      const kind = data.readUInt8(0);
      const id = data.readUInt32BE(1);
      const size = data.readUInt32BE(5);
      const bad = this.checkHeader(kind, id, size);
      if (bad) return this.end(bad);
      if (data.length < HEADER + size) break;
      const payload = data.subarray(HEADER, HEADER + size);
      data = data.subarray(HEADER + size);
      const wrong = this.apply(kind, id, payload);
      if (wrong) return this.end(wrong);
    }
    if (!this.ended) this.buf = Buffer.from(data);
  }

  /** Ends the tunnel from here: every connection closes. */
  close(): void {
    this.end(null);
  }

  private checkHeader(kind: number, id: number, size: number): string | null {
    if (kind > KIND.ack) return `a frame of unknown kind ${kind}`;
    const expected =
      kind === KIND.data ? (size >= 1 && size <= MUX_CHUNK ? size : -1) : kind === KIND.ack ? 4 : 0;
    if (size !== expected) return `a frame of kind ${kind} with ${size} bytes`;
    if (!this.ready && kind !== KIND.ready) return 'a frame before the tunnel was ready';
    if (kind === KIND.ready) return this.ready || id !== 0 ? 'a second ready frame' : null;
    if (kind === KIND.open) {
      if (id !== this.lastId + 1) return `connection ${id} opened out of order`;
      if (this.live() >= MUX_MAX_CONNECTIONS) return `more than ${MUX_MAX_CONNECTIONS} connections`;
    } else if (id === 0 || id > this.lastId) return `a frame for connection ${id}, never opened`;
    return null;
  }

  private apply(kind: number, id: number, payload: Buffer): string | null {
    if (kind === KIND.ready) {
      this.ready = true;
      this.onReady();
      return null;
    }
    if (kind === KIND.open) {
      this.lastId = id;
      this.connect(id);
      return null;
    }
    const conn = this.conns.get(id);
    if (!conn) return null; // closed here while the frame travelled
    if (kind === KIND.data) {
      if (conn.boxEof) return `data on connection ${id} after its end`;
      conn.inFlight += payload.length;
      if (conn.inFlight > MUX_WINDOW) return `connection ${id} sent past its window`;
      const n = payload.length;
      conn.socket.write(Buffer.from(payload), () => {
        conn.inFlight -= n;
        if (this.conns.get(id) === conn) this.ack(id, n);
      });
    } else if (kind === KIND.eof) {
      if (conn.boxEof) return `a second end of connection ${id}`;
      conn.boxEof = true;
      conn.socket.end(); // the socket closes (and tells the box) once both ends are done
    } else if (kind === KIND.close) {
      this.drop(id, false);
    } else {
      const n = payload.readUInt32BE(0);
      if (n === 0) return `an empty acknowledgement on connection ${id}`;
      if (n > conn.unacked) return `connection ${id} acknowledged more than it was sent`;
      conn.unacked -= n;
      if (conn.unacked < MUX_WINDOW) conn.socket.resume();
    }
    return null;
  }

  private connect(id: number): void {
    const socket = net.connect({ path: this.hostSocket, allowHalfOpen: true });
    const conn: Conn = { socket, inFlight: 0, unacked: 0, boxEof: false, hostEof: false };
    this.conns.set(id, conn);
    socket.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += MUX_CHUNK) {
        const part = chunk.subarray(at, at + MUX_CHUNK);
        conn.unacked += part.length;
        this.frame(KIND.data, id, part);
      }
      if (conn.unacked >= MUX_WINDOW) socket.pause();
    });
    socket.on('end', () => {
      conn.hostEof = true;
      this.frame(KIND.eof, id);
    });
    socket.on('error', () => undefined);
    // both ends done is a normal close (the box drops its side once it wrote everything); anything else aborts it
    socket.on('close', () => this.drop(id, !(conn.boxEof && conn.hostEof)));
  }

  private drop(id: number, tell: boolean): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.conns.delete(id);
    conn.socket.destroy();
    if (tell) this.frame(KIND.close, id);
  }

  /** Acknowledgements of one turn go as one frame per connection, however many small writes they cover. */
  private ack(id: number, n: number): void {
    const due = this.acks.get(id);
    this.acks.set(id, (due ?? 0) + n);
    if (this.acks.size === 1 && due === undefined) setImmediate(() => this.flushAcks());
  }

  private flushAcks(): void {
    const acks = [...this.acks];
    this.acks.clear();
    for (const [id, n] of acks) if (this.conns.has(id)) this.frame(KIND.ack, id, uint32(n));
  }

  private frame(kind: number, id: number, payload?: Buffer): void {
    if (this.ended) return;
    const queued = this.send(encodeMuxFrame(kind, id, payload));
    if (queued > MUX_MAX_QUEUED)
      this.end(`the box left more than ${MUX_MAX_QUEUED >> 20} MiB of frames unread`);
  }

  private end(violation: string | null): void {
    if (this.ended) return;
    this.ended = true;
    this.buf = Buffer.alloc(0);
    this.acks.clear();
    for (const conn of this.conns.values()) conn.socket.destroy();
    this.conns.clear();
    this.onEnd(violation);
  }
}

function uint32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}
