// The host side of an app's relay: an HTTP listener on 127.0.0.2 (never beyond) that forwards what its gate lets
// through to the app's Unix socket, one app connection per client connection, and pipes WebSocket upgrades byte for
// byte. A refused request never reaches the app; when the app does not answer, the client's connection is closed.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SandboxError } from '../errors.js';
import { ConnectionGuard, deadlineOptions } from '../http-connection-guard.js';
import { RELAY_HOST, RelayGate, type GateRequest, type Verdict } from './relay-gate.js';
import { pinSocket } from './socket-path.js';

const MAX_HEADER_BYTES = 64 * 1024;
// Hop-by-hop headers (RFC 9110, 7.6.1) belong to one connection; cookie is rewritten by the gate.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
];
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'expect', 'cookie']);
const NOT_RETURNED = new Set(HOP_BY_HOP);

export class HostRelay {
  private readonly sockets = new Set<Duplex>();
  private readonly agents = new WeakMap<Duplex, http.Agent>();
  private closed = false;
  private lastUse = 0;
  /** Called for traffic the gate lets through (at most once a second): the app is in use, so is its session. */
  onUse: (() => void) | undefined;

  private constructor(
    private readonly server: http.Server,
    private readonly socketPath: string,
    private readonly gate: RelayGate,
    private readonly connector: (() => Duplex) | null,
    private readonly guard: ConnectionGuard,
  ) {}

  /**
   * Listens on 127.0.0.2:port (0: a free port) with a fresh key, and relays to the Unix socket at socketPath, or
   * through `connect` when the app is reached another way (a Docker box's exec stream).
   */
  static async listen(socketPath: string, port = 0, connect?: (() => Duplex) | null): Promise<HostRelay> {
    // Headers within 10 s, and a connection that brought no request the gate let through is short-lived and one of
    // few (http-connection-guard.ts). No deadline on the whole request: once the key is checked, an upload or a
    // stream takes as long as the app lets it, as over a direct connection.
    const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, ...deadlineOptions(0) });
    const guard = new ConnectionGuard(server);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: RELAY_HOST, port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new SandboxError(
          'invalid_argument',
          `port ${port} on ${RELAY_HOST} is not available (${code})`,
          {
            port,
          },
        );
      }
      throw err;
    }
    server.on('error', () => undefined);
    // Connections are only accepted once this continuation has run, so every one meets the handlers below.
    const bound = (server.address() as net.AddressInfo).port;
    const relay = new HostRelay(
      server,
      socketPath,
      new RelayGate(bound, randomBytes(32).toString('base64url')),
      connect ?? null,
      guard,
    );
    server.on('connection', (c: net.Socket) => relay.track(c));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => relay.forward(req, res));
    server.on('upgrade', (req: http.IncomingMessage, c: net.Socket, head: Buffer) =>
      relay.upgrade(req, c, head),
    );
    return relay;
  }

  get port(): number {
    return this.gate.port;
  }

  /** The URL that opens the app: it carries the key, which a browser then keeps in this relay's cookie. */
  get url(): string {
    return this.gate.url;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const verdict = this.check(req);
    if (verdict.kind === 'refuse') {
      res.writeHead(verdict.status, refusalHeaders(verdict.message));
      res.end(verdict.message);
      return;
    }
    this.guard.admit(req.socket);
    this.used();
    if (verdict.kind === 'enter') {
      const page = enterPage(verdict.location);
      res.writeHead(200, {
        'Set-Cookie': verdict.setCookie,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(page)),
        'Cache-Control': 'no-store',
        'Content-Security-Policy': "default-src 'none'",
        // The next request must not carry the keyed address to the app as its Referer.
        'Referrer-Policy': 'no-referrer',
      });
      res.end(page);
      return;
    }
    const upstream = http.request({
      agent: this.agentFor(req.socket),
      method: req.method,
      path: verdict.path,
      setHost: false,
      headers: copyHeaders(req.rawHeaders, NOT_FORWARDED, verdict.cookie),
      maxHeaderSize: MAX_HEADER_BYTES,
    });
    upstream.on('response', (answer) => {
      res.writeHead(
        answer.statusCode ?? 502,
        answer.statusMessage,
        copyHeaders(answer.rawHeaders, NOT_RETURNED),
      );
      answer.pipe(res);
      answer.on('close', () => {
        if (!answer.complete) res.destroy(); // the app went away mid-answer: the client must not see it as whole
      });
    });
    // No answer from the app: close the connection as the app itself would have (a browser retries a reused one).
    upstream.on('error', () => (res.headersSent ? res.destroy() : req.socket.destroy()));
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private upgrade(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    const verdict = this.check(req, true);
    if (verdict.kind !== 'pass') {
      const status = verdict.kind === 'refuse' ? verdict.status : 400;
      const message = verdict.kind === 'refuse' ? verdict.message : 'bad upgrade';
      const lines = Object.entries(refusalHeaders(message)).map(([k, v]) => `${k}: ${v}\r\n`);
      client.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${lines.join('')}\r\n${message}`);
      return;
    }
    this.guard.admit(client);
    let upstream: Duplex;
    try {
      upstream = this.connectApp();
    } catch {
      client.destroy();
      return;
    }
    const headers = copyHeaders(req.rawHeaders, new Set(['cookie']), verdict.cookie);
    let text = `${req.method ?? 'GET'} ${verdict.path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    upstream.write(`${text}\r\n`);
    if (head.length > 0) upstream.write(head);
    this.used();
    client.on('data', () => this.used()); // a WebSocket's messages are use too, not only its handshake
    pipeBoth(client, upstream);
  }

  private used(): void {
    const now = Date.now();
    if (now - this.lastUse < 1000) return;
    this.lastUse = now;
    this.onUse?.();
  }

  private check(req: GateRequest, upgrade = false): Verdict {
    if (this.closed) return { kind: 'refuse', status: 403, message: 'the app has stopped' };
    return this.gate.check(req, upgrade);
  }

  /** One app connection per client connection, reused while both stay open, so keep-alive behaves as before. */
  private agentFor(client: Duplex): http.Agent {
    let agent = this.agents.get(client);
    if (agent === undefined) {
      const created = new http.Agent({ keepAlive: true, maxSockets: 1 });
      created.createConnection = (_opts, done) => {
        try {
          return this.connectApp();
        } catch (err) {
          done?.(err as Error, undefined as unknown as Duplex);
          return undefined;
        }
      };
      client.once('close', () => created.destroy());
      this.agents.set(client, created);
      agent = created;
    }
    return agent;
  }

  /** Throws when the app is not listening (yet), or its socket was tampered with. */
  private connectApp(): Duplex {
    if (this.connector) {
      const upstream = this.connector();
      this.track(upstream);
      return upstream;
    }
    const pinned = pinSocket(this.socketPath);
    const upstream = net.connect({ path: pinned.path, allowHalfOpen: true });
    upstream.once('connect', pinned.release).once('close', pinned.release);
    this.track(upstream);
    return upstream;
  }

  private track(socket: Duplex): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Stops listening and drops every open connection, so the port is free when this resolves. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closing;
  }
}

/** The raw header pairs without the dropped names, plus the given Cookie header. */
function copyHeaders(raw: readonly string[], drop: ReadonlySet<string>, cookie?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  if (cookie !== undefined) out.push('Cookie', cookie);
  return out;
}

/**
 * The page that moves a browser from the keyed URL to the app. Not a 303: after a redirect, a navigation that a link
 * on another site started still counts as cross-site and would not carry the new SameSite=Strict cookie; this page's
 * own refresh is a same-site navigation, so it does.
 */
function enterPage(location: string): string {
  // The target came through the HTTP parser; quotes, angle brackets and spaces are encoded so it stays one attribute.
  const target = location.replace(/["'<>\s]/g, (c) => encodeURIComponent(c)).replace(/&/g, '&amp;');
  return (
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=${target}">` +
    `<title>opening the app</title><a href="${target}">open the app</a>\n`
  );
}

function refusalHeaders(message: string): Record<string, string> {
  return {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(message)),
    'Cache-Control': 'no-store',
    Connection: 'close',
  };
}

/**
 * Byte pipes both ways. A failure on either side ends both at once; the app's clean end travels through pipe() as a
 * half-close, so an answer still queued for a slow reader is flushed before its socket closes. A client gone for good
 * (closed, cleanly or not) takes the app's connection with it: nothing could read what the app still writes.
 */
function pipeBoth(client: net.Socket, upstream: Duplex): void {
  const fail = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', fail).on('close', () => upstream.destroy());
  upstream.on('error', fail).on('close', (hadError: boolean) => hadError && client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
}
