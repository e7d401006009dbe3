// Keeps an HTTP listener answering while anyone who can connect floods it: headers must arrive within a short
// deadline, and connections that have not yet sent a request that passed the listener's check (a token, an app's key)
// are few and short-lived, the oldest dropped first, so they can never use up the process's descriptors.
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

/** A request's headers must all arrive within this long. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** How often node checks the header and request deadlines (its default, 30 s, would triple the first). */
const CHECK_EVERY_MS = 1_000;
/**
 * Connections not yet admitted, at most: a new one over it drops the oldest. More than two full listen backlogs
 * (511 each): a client's connection accepted within a burst is read, and admitted, before newer ones push it out.
 */
export const UNADMITTED_MAX = 1024;
/** A connection not admitted this long after it opened is closed. */
export const UNADMITTED_MS = 10_000;
/** All connections together, admitted ones included: node refuses more. */
export const MAX_CONNECTIONS = 8192;

/** The options of createServer that set the deadlines: headers, and the whole request (0: none). */
export function deadlineOptions(requestTimeoutMs: number): ServerOptions {
  return {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: CHECK_EVERY_MS,
  };
}

/**
 * Tracks the server's connections until each is admitted (`admit`, once one of its requests passed the check). Loopback
 * clients all share 127.0.0.1, so no cap per address could tell a client from an attacker: the cap is on what has not
 * proved itself, and a real client proves itself with the first request it sends, well before its deadline.
 */
export class ConnectionGuard {
  /** Unadmitted connections by when they opened, oldest first (a Map keeps insertion order). */
  private readonly waiting = new Map<Socket, number>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    server: Server,
    private readonly max = UNADMITTED_MAX,
    private readonly deadlineMs = UNADMITTED_MS,
  ) {
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (socket: Socket) => this.opened(socket));
    server.once('close', () => clearInterval(this.sweep));
    this.sweep = setInterval(() => this.expire(), Math.min(1_000, deadlineMs)).unref();
  }

  /** The connection sent a request that passed the check: it is no longer counted or timed here. */
  admit(socket: Socket): void {
    this.waiting.delete(socket);
  }

  private opened(socket: Socket): void {
    this.waiting.set(socket, performance.now());
    socket.once('close', () => this.waiting.delete(socket));
    while (this.waiting.size > this.max) this.drop(this.waiting.keys().next().value!);
  }

  private expire(): void {
    const oldest = performance.now() - this.deadlineMs;
    for (const [socket, at] of this.waiting) {
      if (at > oldest) break;
      this.drop(socket);
    }
  }

  private drop(socket: Socket): void {
    this.waiting.delete(socket);
    socket.destroy();
  }
}
