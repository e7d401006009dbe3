// The host-side allowlist proxy of one session (or one install): HTTP CONNECT for https, absolute-URI forwarding for
// http, listening on a Unix socket that is bound into the box. It must never connect to a host no rule allows, and
// never to a loopback or link-local address unless a rule names it.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { lchownSync, rmSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { workspaceChownTarget } from '../box-user.js';
import type { DomainRule } from './domains.js';
import { gatedLookup } from './lookup-gate.js';
import { LOOKUP_TIMEOUT_MS, systemLookup } from './name-lookup.js';
import { decideTarget, printable, type Lookup, type TargetDecision } from './target.js';

export interface ProxyDenial {
  at: string;
  method: string;
  host: string;
  port: number;
  reason: string;
  /** The rule that matched when the host was listed but its address was refused; null when no rule matched. */
  rule: string | null;
}

export interface ProxyOptions {
  socketPath: string;
  rules: readonly DomainRule[];
  onDenied?: (d: ProxyDenial) => void;
  /** How names are looked up (default: the hosts file, then DNS); always behind the proxy's own limits. */
  lookup?: Lookup;
  /** Time a client waits for a name, its turn included (default 6 s). */
  lookupTimeoutMs?: number;
  /** Idle time after which a tunnel or forwarded request is dropped. */
  idleMs?: number;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const CONNECT_TIMEOUT_MS = 15_000;
// One box cannot exhaust the server's file descriptors through its proxy.
const MAX_CONNECTIONS = 256;
// Names one proxy looks up at a time: a box asking for many slow names waits behind its own lookups only.
const MAX_LOOKUPS = 8;

function forwardHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase()),
  );
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** `host:port` of a CONNECT line, with IPv6 in brackets. */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(authority) ?? /^([^:[\]]+):(\d{1,5})$/.exec(authority);
  return m ? { host: m[1]!, port: Number(m[2]) } : null;
}

/** Status line and headers for a target that could not be reached for want of an address (not a denial). */
function unresolvedStatus(t: TargetDecision & { ok: false }): {
  code: number;
  text: string;
  error?: 'timeout';
} {
  return t.timedOut
    ? { code: 504, text: 'Gateway Timeout', error: 'timeout' }
    : { code: 502, text: 'Bad Gateway' };
}

function denialBody(d: ProxyDenial): string {
  return `network_denied: ${d.reason}\nThis sandbox's network policy only lets listed domains through.\n`;
}

export class AllowlistProxy {
  private readonly sockets = new Set<Duplex>();

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  /** Listens at once: the socket file exists when this returns, so a box started right after can bind it. */
  static start(opts: ProxyOptions, onError: (err: Error) => void = () => {}): AllowlistProxy {
    const lookup = gatedLookup(
      opts.lookup ?? systemLookup,
      MAX_LOOKUPS,
      opts.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS,
    );
    const idleMs = opts.idleMs ?? 300_000;
    const server = createServer();
    const proxy = new AllowlistProxy(server, opts.socketPath);
    server.maxConnections = MAX_CONNECTIONS;
    const deny = (method: string, host: string, port: number, reason: string, rule: DomainRule | null) => {
      const d: ProxyDenial = {
        at: new Date().toISOString(),
        method,
        host: printable(host),
        port,
        reason,
        rule: rule?.text ?? null,
      };
      opts.onDenied?.(d);
      return d;
    };
    server.on('connection', (s: Socket) => proxy.track(s, idleMs));

    server.on('request', (req, res: ServerResponse) => {
      let url: URL;
      try {
        url = new URL(req.url ?? '');
      } catch {
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end('this is a proxy: send absolute http:// URLs or CONNECT\n');
        return;
      }
      if (url.protocol !== 'http:') {
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end('only http:// URLs are forwarded; https goes through CONNECT\n');
        return;
      }
      const port = url.port ? Number(url.port) : 80;
      const method = req.method ?? 'GET';
      void decideTarget(opts.rules, url.hostname, port, lookup).then((t) => {
        if (!t.ok && !t.denied) {
          const st = unresolvedStatus(t);
          const headers: Record<string, string> = { 'content-type': 'text/plain', connection: 'close' };
          if (st.error) headers['x-sandbox-error'] = st.error;
          res.writeHead(st.code, headers).end(`${t.reason}\n`);
          req.resume();
          return;
        }
        if (!t.ok) {
          const d = deny(method, url.hostname, port, t.reason, t.rule);
          const body = denialBody(d);
          res.writeHead(403, 'Forbidden by the sandbox network policy', {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(body),
            'x-sandbox-error': 'network_denied',
            connection: 'close',
          });
          res.end(body);
          req.resume();
          return;
        }
        if (res.destroyed) return; // the client left while the name was looked up
        const headers = forwardHeaders(req.headers);
        headers.host = url.host;
        const up = httpRequest(
          {
            host: t.address,
            port,
            method,
            path: `${url.pathname}${url.search}`,
            headers,
            agent: false,
            timeout: idleMs,
          },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardHeaders(upRes.headers));
            upRes.pipe(res);
          },
        );
        up.on('socket', (s) => proxy.track(s, idleMs));
        up.on('timeout', () => up.destroy(new Error('upstream timed out')));
        up.on('error', (err) => {
          if (!res.headersSent && !res.destroyed)
            res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream error: ${err.message}\n`);
          else res.destroy();
        });
        // A client that goes away, or a response already sent, leaves nothing open upstream.
        res.on('close', () => up.destroy());
        req.pipe(up);
      });
    });

    server.on('connect', (req, client: Duplex, head: Buffer) => {
      proxy.track(client, idleMs);
      client.on('error', () => client.destroy());
      const target = parseAuthority(req.url ?? '');
      if (!target) {
        client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      void decideTarget(opts.rules, target.host, target.port, lookup).then((t) => {
        if (!t.ok && !t.denied) {
          const body = `${t.reason}\n`;
          const st = unresolvedStatus(t);
          client.end(
            `HTTP/1.1 ${st.code} ${st.text}\r\nContent-Type: text/plain\r\n` +
              (st.error ? `X-Sandbox-Error: ${st.error}\r\n` : '') +
              `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
          return;
        }
        if (!t.ok) {
          const body = denialBody(deny('CONNECT', target.host, target.port, t.reason, t.rule));
          client.end(
            'HTTP/1.1 403 Forbidden by the sandbox network policy (network_denied)\r\n' +
              'Content-Type: text/plain; charset=utf-8\r\nX-Sandbox-Error: network_denied\r\n' +
              `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
          return;
        }
        if (client.destroyed) return; // the client left while the name was looked up
        const up = connect({ host: t.address, port: target.port, timeout: CONNECT_TIMEOUT_MS });
        proxy.track(up, idleMs);
        let established = false;
        up.once('connect', () => {
          established = true;
          up.setTimeout(idleMs);
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) up.write(head);
          up.pipe(client);
          client.pipe(up);
        });
        up.on('timeout', () => up.destroy());
        up.on('error', (err) => {
          if (!established)
            client.end(
              `HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\nX-Error: ${printable(err.message, 100)}\r\n\r\n`,
            );
          else client.destroy();
        });
        up.on('close', () => client.destroy());
        client.on('close', () => up.destroy());
      });
    });

    server.on('error', onError);
    rmSync(opts.socketPath, { force: true });
    // For a Unix socket path Node binds synchronously inside listen(); 'listening' only follows on the next tick.
    server.listen(opts.socketPath);
    // a root server's boxes run as the box uid, which must be able to connect
    const owner = workspaceChownTarget();
    if (owner) lchownSync(opts.socketPath, owner.uid, owner.gid);
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private track(s: Duplex, idleMs: number): void {
    if (this.sockets.has(s)) return;
    this.sockets.add(s);
    if ('setTimeout' in s && typeof s.setTimeout === 'function') {
      (s as Socket).setTimeout(idleMs, () => s.destroy());
    }
    s.once('close', () => this.sockets.delete(s));
  }
}
