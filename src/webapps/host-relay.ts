// The host side of an app's relay: a TCP listener on 127.0.0.1 whose every connection is piped, byte for byte, to
// the app's Unix socket (so WebSockets and streaming work unchanged). It never listens beyond 127.0.0.1.
import net from 'node:net';
import { SandboxError } from '../errors.js';
import { pinSocket, type PinnedSocket } from './socket-path.js';

export class HostRelay {
  private readonly conns = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    private readonly socketPath: string,
  ) {}

  /** Listens on 127.0.0.1:port (0: a free port) and relays to the Unix socket at socketPath. */
  static async listen(socketPath: string, port = 0): Promise<HostRelay> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const relay = new HostRelay(server, socketPath);
    server.on('connection', (c) => relay.pipe(c));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new SandboxError('invalid_argument', `port ${port} on 127.0.0.1 is not available (${code})`, {
          port,
        });
      }
      throw err;
    }
    server.on('error', () => undefined);
    return relay;
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  private pipe(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    let pinned: PinnedSocket;
    try {
      pinned = pinSocket(this.socketPath);
    } catch {
      client.destroy(); // the app is not listening (yet), or its socket was tampered with
      return;
    }
    const upstream = net.connect({ path: pinned.path, allowHalfOpen: true });
    upstream.once('connect', pinned.release).once('close', pinned.release);
    this.conns.add(client);
    this.conns.add(upstream);
    // A failure on either side ends both at once; a clean end travels through pipe() as a half-close, so a reply
    // still queued for a slow reader is flushed before its socket closes.
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail).on('close', (hadError) => {
      this.conns.delete(client);
      if (hadError) upstream.destroy();
    });
    upstream.on('error', fail).on('close', (hadError) => {
      this.conns.delete(upstream);
      if (hadError) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops listening and drops every open connection, so the port is free when this resolves. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await closing;
  }
}
