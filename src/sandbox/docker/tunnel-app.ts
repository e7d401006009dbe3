// A host connection to a web app's Unix socket inside a Docker box without bind mounts: a Duplex that opens an exec
// of tunnel_pipe.py and pipes through its stream, usable where a net.Socket is (the relay's HTTP agent and upgrades).
// Backpressure both ways: the box's output is read only as fast as the host takes it, writes wait for the engine.
import { Duplex } from 'node:stream';
import { DockerDemux, openExec, type ExecTarget } from './tunnel-exec.js';

const OPEN_TIMEOUT_MS = 15_000;

export class AppTunnelSocket extends Duplex {
  private raw: Duplex | null = null;
  private waiting: Array<() => void> = [];
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  readonly connecting = false;

  constructor(target: ExecTarget, socketPath: string) {
    super({ allowHalfOpen: true });
    const timer = setTimeout(
      () => this.destroy(new Error('the tunnel into the box did not open in time')),
      OPEN_TIMEOUT_MS,
    );
    openExec(target, 'tunnel_pipe.py', [socketPath]).then(
      (raw) => {
        clearTimeout(timer);
        this.attach(raw);
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  private attach(raw: Duplex): void {
    if (this.destroyed) {
      raw.destroy();
      return;
    }
    this.raw = raw;
    const demux = new DockerDemux((chunk) => {
      this.touch();
      return this.push(chunk);
    });
    raw.on('data', (chunk: Buffer) => {
      if (!demux.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('close', () => {
      // the exec ended: what it sent is still read out first, then this side goes too
      if (this.readableEnded || this.destroyed) this.destroy();
      else {
        this.push(null);
        this.once('end', () => this.destroy());
      }
    });
    raw.on('drain', () => this.flush());
    this.flush();
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) go();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.touch();
    const raw = this.raw;
    if (!raw) {
      this.waiting.push(() => this._write(chunk, _enc, cb));
      return;
    }
    if (raw.write(chunk)) cb();
    else this.waiting.push(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    const raw = this.raw;
    if (!raw) {
      this.waiting.push(() => this._final(cb));
      return;
    }
    raw.end(); // a half-close: the app sees the end of its input
    cb();
  }

  override _read(): void {
    this.raw?.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.raw?.destroy();
    this.waiting = [];
    if (this.idleTimer) clearTimeout(this.idleTimer);
    cb(err);
  }

  /** As net.Socket's: 'timeout' once nothing moved either way for ms (0: never); the caller decides what ends. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (onTimeout) this.once('timeout', onTimeout);
    this.idleMs = ms > 0 ? ms : 0;
    this.touch();
    return this;
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleMs === 0 || this.destroyed) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.emit('timeout');
    }, this.idleMs);
    this.idleTimer.unref();
  }

  // What http.Agent and the relay call on a net.Socket; an exec stream has no such settings.
  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
