// The http.Agent of an ssh:// engine: each Engine API connection is a `docker system dial-stdio` channel on an ssh
// connection of its own, kept alive for the next request as the docker CLI does (docker-modem's own ssh agent makes a
// new ssh connection, login and dial-stdio per request).
import { createRequire } from 'node:module';
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import type { Client, ConnectConfig } from 'ssh2';

/**
 * Channels per ssh connection. One: ssh2 stops reading the whole connection while one channel's reader is behind (a
 * box's attach stream paused for back-pressure), which stalled the other channels' requests.
 */
const CHANNELS_PER_CONNECTION = 1;
/** An ssh connection without channels this long is closed. */
const IDLE_MS = 30_000;
const DIAL = 'docker system dial-stdio';

interface Conn {
  client: Client;
  /** ssh2's own socket (it keeps it as `_sock`), to let an idle connection not keep the process alive. */
  sock: Socket;
  ready: Promise<void>;
  /** Channels, those kept for the next request included (the server's MaxSessions counts them). */
  open: number;
  /** Channels carrying a request or a hijacked stream: while there are some, the process is kept alive. */
  busy: number;
  /** No new channels: it failed, closed, or the server refused a channel on it. */
  done: boolean;
  idle?: NodeJS.Timeout | undefined;
}

/** ssh2, as docker-modem (dockerode's transport) loads it: no dependency of its own, and kept out of the bundle. */
export function ssh2Module(): typeof Ssh2 {
  const fromHere = createRequire(import.meta.url);
  const fromDockerode = createRequire(fromHere.resolve('dockerode'));
  const fromModem = createRequire(fromDockerode.resolve('docker-modem'));
  return fromModem('ssh2') as typeof Ssh2;
}

export class SshDialAgent extends Agent {
  private readonly conns = new Set<Conn>();
  private readonly owner = new WeakMap<Duplex, Conn>();
  /** Channels kept for the next request (not in use). */
  private readonly resting = new WeakSet<Duplex>();
  private readonly Client = ssh2Module().Client as new () => Client;

  /** `config`: ssh2's settings (host, port, username, authHandler, hostVerifier…), made anew for each ssh connection. */
  constructor(private readonly config: () => ConnectConfig) {
    super({ keepAlive: true, maxFreeSockets: 4 });
  }

  /** A request ended and its channel waits for the next one. */
  override keepSocketAlive(socket: Duplex & Socket): boolean {
    const conn = this.owner.get(socket);
    if (!conn || conn.done) return false;
    super.keepSocketAlive(socket);
    this.resting.add(socket);
    this.idle(conn, -1);
    return true;
  }

  override reuseSocket(socket: Duplex & Socket, req: unknown): void {
    const conn = this.owner.get(socket);
    if (conn && this.resting.delete(socket)) this.idle(conn, +1);
    (super.reuseSocket as (s: Socket, r: unknown) => void)(socket, req);
  }

  override createConnection(_options: unknown, cb?: (err: Error | null, stream: Duplex) => void): undefined {
    void this.channel(true).then(
      (stream) => cb?.(null, stream),
      (err: unknown) => cb?.(err instanceof Error ? err : new Error(String(err)), undefined as never),
    );
    return undefined;
  }

  private async channel(retry: boolean): Promise<Duplex> {
    const conn = this.pick();
    conn.open += 1;
    this.idle(conn, +1);
    try {
      await conn.ready;
      const stream = await new Promise<Duplex>((resolve, reject) =>
        conn.client.exec(DIAL, (err, s) => (err ? reject(err) : resolve(s))),
      );
      // what the agent asks of a socket it keeps; a channel's lifetime is the ssh connection's
      const s = stream as Duplex & Partial<Socket>;
      s.ref ??= () => s as Socket;
      s.unref ??= () => s as Socket;
      s.setKeepAlive ??= () => s as Socket;
      s.setTimeout ??= () => s as Socket;
      s.setNoDelay ??= () => s as Socket;
      this.owner.set(stream, conn);
      stream.once('close', () => {
        conn.open -= 1;
        if (!this.resting.delete(stream)) this.idle(conn, -1);
        this.maybeEnd(conn);
      });
      return stream;
    } catch (err) {
      // a refused channel on a live connection: once more on a new one
      const live = !conn.done;
      conn.done = true;
      this.release(conn);
      if (retry && live) return this.channel(false);
      throw err;
    }
  }

  private pick(): Conn {
    for (const c of this.conns) if (!c.done && c.open < CHANNELS_PER_CONNECTION) return c;
    const client = new this.Client();
    const conn: Conn = {
      client,
      sock: null as unknown as Socket,
      open: 0,
      busy: 0,
      done: false,
      ready: Promise.resolve(),
    };
    conn.ready = new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('the ssh connection closed before login')));
    });
    conn.ready.catch(() => undefined);
    client.on('error', () => {
      conn.done = true;
    });
    client.once('close', () => {
      conn.done = true;
      this.conns.delete(conn);
      clearTimeout(conn.idle);
    });
    client.connect(this.config());
    const sock = (client as unknown as { _sock: Socket })._sock;
    conn.sock = sock;
    sock.on('error', () => undefined);
    // TCP keepalive finds a dead peer without a timer of ssh2's own, which would keep an idle process alive
    sock.setKeepAlive(true, 15_000);
    this.conns.add(conn);
    return conn;
  }

  /** Counts a channel in or out of use; an ssh connection none uses stops keeping the process alive, then ends. */
  private idle(conn: Conn, delta: 1 | -1): void {
    conn.busy += delta;
    clearTimeout(conn.idle);
    if (conn.busy > 0) {
      conn.sock.ref();
      return;
    }
    conn.sock.unref();
    conn.idle = setTimeout(() => {
      conn.done = true;
      this.conns.delete(conn);
      conn.client.end();
    }, IDLE_MS);
    conn.idle.unref();
  }

  private release(conn: Conn): void {
    conn.open -= 1;
    this.idle(conn, -1);
    this.maybeEnd(conn);
  }

  private maybeEnd(conn: Conn): void {
    if (conn.done && conn.open <= 0) {
      this.conns.delete(conn);
      conn.client.end();
    }
  }

  override destroy(): void {
    for (const c of this.conns) c.client.end();
    this.conns.clear();
    super.destroy();
  }
}
