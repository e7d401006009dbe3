// Serves MCP over Streamable HTTP at /mcp on node:http, both eras, to callers that pass the Host, Origin and Bearer-token checks. Never let a request reach a server instance or an extra route before all three checks passed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  createMcpHandler,
  isJsonContentType,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  validateHostHeader,
  validateOriginHeader,
  type McpHttpHandler,
} from '@modelcontextprotocol/server';
import { cookieValues, setCookie } from '../http-cookies.js';
import { ConnectionGuard, deadlineOptions } from '../http-connection-guard.js';
import { clientKeyForToken, createTokenChecker, StatusSignIns } from './auth.js';
import { HttpExchanges, parseJsonBody } from './http-cancel.js';
import { InstancePool, leavesNoState, namesItsClient } from './http-instance-pool.js';
import { claimsModernEra, PlainJsonCalls, plainRequests } from './http-plain-json.js';
import type { ClientContext, ServerFactory } from './client-context.js';

export const MCP_PATH = '/mcp';
/**
 * write_file takes up to 25 MiB of content; sent as base64 (4/3 of it) inside its JSON-RPC message, that needs just
 * under 34 MiB. The default leaves room for the envelope and for text with some escaping.
 */
export const DEFAULT_MAX_BODY_BYTES = 36 * 1024 * 1024;
/** The most time a request may take to arrive whole, headers and body. */
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * A hook for extra pages served behind the same checks as /mcp. It is called after the token check for
 * any other path and returns true when it answered the request; `client` says whose token was used.
 */
export type ExtraRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  client: ClientContext,
) => boolean | Promise<boolean>;

export interface HttpOptions {
  host: string;
  /** 0 picks a free port; the handle reports the one chosen. */
  port: number;
  /** Accepted bearer tokens; each one is its own client. */
  tokens: string[];
  /** Host-header names accepted besides the localhost names and the bound host (DNS-rebinding protection). */
  allowedHosts?: string[];
  /**
   * Browser origins accepted besides localhost ones: a full origin (`https://app.example:8443`) must match
   * exactly, a bare hostname matches it on any scheme and port.
   */
  allowedOrigins?: string[];
  extraRoutes?: ExtraRoutes;
  /** How long a status-page sign-in cookie lasts (default 12 hours). */
  statusSignInTtlMs?: number;
  /** Largest request body accepted, in bytes (default 36 MiB: a 25 MiB write_file as base64). */
  maxBodyBytes?: number;
  /** Out-of-band errors (reporting only); defaults to a line on stderr. */
  onError?: (error: Error) => void;
}

export interface HttpHandle {
  /** The MCP endpoint, e.g. http://127.0.0.1:8765/mcp. */
  url: string;
  port: number;
  close(): Promise<void>;
  server: Server;
}

/** Read-only pages served behind the same token (see extraRoutes). */
export const STATUS_PATH = '/status';

const LEGACY_STATUS_COOKIE = 'sandbox_mcp_token';

/** Cookies ignore ports: each server's status cookie is named for its port, so servers side by side keep theirs. */
function statusCookieName(port: number): string {
  return `sandbox_mcp_status_${port}`;
}

/** What serves one client (one token): its MCP handler, its idle server instances and its open exchanges. */
interface ClientHandler {
  client: ClientContext;
  mcp: McpHttpHandler;
  /** 2025-era calls that stream nothing (served here, not by the SDK's fallback). */
  plain: PlainJsonCalls;
  /** Requests the SDK serves in the 2026-07-28 era on a reused instance (see lendable). */
  lendable: WeakSet<Request>;
  exchanges: HttpExchanges;
}

export async function startHttp(factory: ServerFactory, opts: HttpOptions): Promise<HttpHandle> {
  const onError = opts.onError ?? ((e: Error) => process.stderr.write(`sandbox-mcp http: ${e.message}\n`));
  const checkToken = createTokenChecker(opts.tokens);
  const allowedHostnames = hostAllowlist(opts.host, opts.allowedHosts ?? []);
  const originAllowed = originPolicy(opts.allowedOrigins ?? []);
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const signIns = new StatusSignIns(opts.statusSignInTtlMs);
  let baseOrigin = ''; // known once listening (no request can arrive before that), as a URL writes it
  let statusCookie = ''; // likewise

  // One handler per client: its factory closure carries the clientKey, so no secret has to travel through
  // the SDK's authInfo to the tool handlers. createMcpHandler serves 2026-07-28 per-request exchanges and
  // 2025 (initialize-era) traffic that may stream with its stateless fallback; 2025 requests that cannot stream
  // are answered here with plain JSON. An instance serves one exchange at a time and one era; instances whose
  // exchange left nothing in them are kept per era and reused, since building one costs more than the rest.
  const handlers = new Map<string, ClientHandler>();
  for (const token of opts.tokens) {
    const client: ClientContext = { clientKey: clientKeyForToken(token), transport: 'http' };
    const build = () => factory(client);
    const modernPool = new InstancePool(build);
    const lendable = new WeakSet<Request>();
    const mcp = createMcpHandler(
      ({ era, requestInfo }) =>
        era === 'modern' && requestInfo !== undefined && lendable.has(requestInfo)
          ? modernPool.lend(requestInfo.signal)
          : build(),
      { legacy: 'stateless', maxRequestBodySize: maxBodyBytes, onerror: onError },
    );
    const plain = new PlainJsonCalls(build);
    handlers.set(client.clientKey, { client, mcp, plain, lendable, exchanges: new HttpExchanges() });
  }

  // Headers within 10 s, a whole request (a 36 MiB body included) within 2 minutes; connections that sent no request
  // with a valid token yet are few and short-lived (http-connection-guard.ts), so no flood of them locks clients out.
  const server = createServer(deadlineOptions(REQUEST_TIMEOUT_MS), (req, res) => {
    handle(req, res).catch((err: unknown) => {
      onError(toError(err));
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'Internal server error'));
      else res.destroy();
    });
  });
  const guard = new ConnectionGuard(server);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://request.invalid');

    const host = validateHostHeader(req.headers.host, allowedHostnames);
    if (!host.ok) return sendJson(res, 403, rpcError(-32000, host.message));
    if (!originAllowed(req.headers.origin)) return sendJson(res, 403, rpcError(-32000, 'Origin not allowed'));

    // Browsers cannot send a bearer header on navigation: the status pages take the token once from ?token=,
    // trade it for a sign-in cookie that holds an opaque, expiring id (never the token, useless on /mcp), and
    // drop it from the URL by a redirect.
    const page = url.pathname === STATUS_PATH || url.pathname.startsWith(`${STATUS_PATH}/`);
    // An empty ?token= is no token: it must neither pass on the cookie nor replace it.
    const queryToken = page ? url.searchParams.get('token') || null : null;
    const auth =
      req.headers.authorization !== undefined || !page
        ? checkToken(req.headers.authorization)
        : queryToken !== null
          ? checkToken(`Bearer ${queryToken}`)
          : signIns.check(cookieValues(req.headers.cookie, statusCookie));
    if (auth.ok) guard.admit(req.socket);
    // Earlier versions kept the token itself in this cookie: a browser that still has it loses it now.
    const cookies =
      page && cookieValues(req.headers.cookie, LEGACY_STATUS_COOKIE).length > 0
        ? [setCookie(LEGACY_STATUS_COOKIE, '', { path: STATUS_PATH, sameSite: 'Strict', maxAgeSeconds: 0 })]
        : [];
    if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);
    if (auth.ok && queryToken !== null && req.headers.authorization === undefined) {
      const id = signIns.issue(auth.clientKey);
      const maxAgeSeconds = Math.ceil(signIns.ttlMs / 1000);
      cookies.push(setCookie(statusCookie, id, { path: STATUS_PATH, sameSite: 'Strict', maxAgeSeconds }));
      res.setHeader('Set-Cookie', cookies);
      res.setHeader('Location', url.pathname);
      res.statusCode = 303;
      res.end();
      return;
    }
    if (!auth.ok) {
      res.setHeader(
        'WWW-Authenticate',
        auth.reason === 'missing'
          ? 'Bearer realm="sandbox-mcp"'
          : 'Bearer realm="sandbox-mcp", error="invalid_token"',
      );
      return sendJson(res, 401, {
        error: auth.reason === 'missing' ? 'unauthorized' : 'invalid_token',
        error_description: auth.reason === 'missing' ? 'Bearer token required' : 'Bearer token not accepted',
      });
    }
    const entry = handlers.get(auth.clientKey);
    if (entry === undefined) throw new Error('token matched but has no handler');

    if (url.pathname === MCP_PATH) return serveMcp(entry, req, res, url);
    if (opts.extraRoutes !== undefined && (await opts.extraRoutes(req, res, url, entry.client))) return;
    sendJson(res, 404, { error: 'not_found' });
  }

  async function serveMcp(
    { mcp, plain, lendable, exchanges }: ClientHandler,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    let body: Buffer | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      body = await readBody(req, maxBodyBytes);
      if (body === undefined) return sendJson(res, 413, bodyTooLarge(maxBodyBytes));
    }
    // Parsed once here (the SDK takes it as is): requests are tracked by id, so that a notifications/cancelled,
    // which arrives in a POST of its own, can abort the exchange that carries its request.
    const parsed = parseJsonBody(body);
    // The exchange is aborted when the client goes away, so a cancelled tool call stops streaming to nobody.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    // `url`'s path and query are already in their parsed form, so this is what `new URL` would make of them.
    const target = `${baseOrigin}${url.pathname}${url.search}`;
    exchanges.cancel(parsed);
    const untrack = exchanges.track(parsed, abort);
    try {
      // 2025-era calls that stream nothing: decided on the parsed body and the node headers, no web Request built.
      const requests = method === 'POST' ? plainRequests(parsed, req.headers) : undefined;
      if (requests !== undefined) {
        const info = { method, url: target, headers: toHeaders(req), signal: abort.signal };
        const text = await plain.serve(info, requests);
        // A cancelled call gets what its stream would have given it: an end without a response.
        if (text === undefined) res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end();
        else sendJsonText(res, 200, text);
        return;
      }
      const request = new Request(target, {
        method,
        headers: toHeaders(req),
        // A body that parsed reaches the SDK parsed; only one it must answer with a parse error goes as bytes.
        ...(body !== undefined && parsed === undefined && { body: new Uint8Array(body) }),
        signal: abort.signal,
      });
      const legacy =
        method === 'POST' &&
        parsed !== undefined &&
        !claimsModernEra(parsed) &&
        isJsonContentType(req.headers['content-type']) &&
        (await isLegacyRequest(request, parsed, { maxRequestBodySize: maxBodyBytes }));
      if (!legacy && leavesNoState(parsed) && namesItsClient(parsed)) lendable.add(request);
      const response = await mcp.fetch(request, parsed === undefined ? undefined : { parsedBody: parsed });
      await writeResponse(res, response);
    } finally {
      untrack();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => onError(err));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${urlHost(opts.host)}:${port}`;
  baseOrigin = new URL(baseUrl).origin;
  statusCookie = statusCookieName(port);

  let closing: Promise<void> | undefined;
  return {
    url: `${baseUrl}${MCP_PATH}`,
    port,
    server,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all(
          [...handlers.values()].flatMap((h) => [h.mcp.close().catch(() => {}), h.plain.close()]),
        );
        // Open SSE streams and idle keep-alive sockets would otherwise hold close() open indefinitely.
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

function hostAllowlist(bindHost: string, extra: readonly string[]): string[] {
  const names = new Set(localhostAllowedHostnames());
  if (isWildcard(bindHost)) {
    // Bound to every interface: requests legitimately name any local address. IP literals cannot be
    // rebound by an attacker's DNS, so admitting them keeps the protection intact.
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(normalizeHostname(a.address));
    }
  } else {
    names.add(normalizeHostname(bindHost));
  }
  for (const h of extra) names.add(normalizeHostname(h));
  return [...names];
}

function originPolicy(extra: readonly string[]): (origin: string | string[] | undefined) => boolean {
  const exactOrigins = new Set<string>();
  const hostnames = localhostAllowedOrigins();
  for (const entry of extra) {
    if (entry.includes('://')) exactOrigins.add(new URL(entry).origin);
    else hostnames.push(normalizeHostname(entry));
  }
  return (origin) => {
    if (Array.isArray(origin)) return false;
    if (origin === undefined || origin === '') return true;
    try {
      if (exactOrigins.has(new URL(origin).origin)) return true;
    } catch {
      return false;
    }
    return validateOriginHeader(origin, hostnames).ok;
  };
}

/** The form validateHostHeader compares against: lowercase, no port, IPv6 in brackets. */
function normalizeHostname(host: string): string {
  const h = host.trim().toLowerCase();
  const bracketed =
    h.includes(':') && !h.startsWith('[') && h.indexOf(':') !== h.lastIndexOf(':') ? `[${h}]` : h;
  try {
    return new URL(`http://${bracketed}`).hostname;
  } catch {
    return bracketed;
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

function urlHost(bindHost: string): string {
  if (bindHost === '0.0.0.0' || bindHost === '') return '127.0.0.1';
  if (bindHost === '::' || bindHost === '[::]') return '[::1]';
  return normalizeHostname(bindHost);
}

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

/** Reads the whole body, or undefined once it passes the limit (the rest is not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Over the limit: the rest is drained, not kept.
      req.off('data', onData);
      req.resume();
      resolve(undefined);
    };
    req.on('data', onData);
    req.once('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A promise settles once: after 'end' this does nothing.
    req.once('close', () => reject(new Error('the request body ended early')));
  });
}

/**
 * Copies a fetch Response onto the node response: a JSON body in one write with its headers, an SSE body frame by
 * frame as the frames come.
 */
async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  if (response.body === null) {
    res.end();
    return;
  }
  if (!isEventStream(response.headers.get('content-type'))) {
    const bytes = Buffer.from(await response.arrayBuffer());
    res.setHeader('Content-Length', bytes.length);
    res.end(bytes);
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  const onClose = (): void => void reader.cancel().catch(() => {});
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res);
      if (res.destroyed) return;
    }
    res.end();
  } finally {
    res.off('close', onClose);
  }
}

function isEventStream(contentType: string | null): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'text/event-stream';
}

/** Waits until the socket takes more data, or is gone. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}

function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function rpcError(code: number, message: string, data?: Record<string, unknown>): unknown {
  return { jsonrpc: '2.0', error: { code, message, ...(data && { data }) }, id: null };
}

function bodyTooLarge(limit: number): unknown {
  const mib = Math.floor((limit / (1024 * 1024)) * 10) / 10;
  return rpcError(
    -32000,
    `Request body too large: one request to this server is at most ${limit} bytes (${mib} MiB). ` +
      'write_file takes up to 25 MiB of content: send large or binary files as base64, which needs no escaping.',
    { limit_bytes: limit },
  );
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
