// 2025-era (initialize handshake) calls over Streamable HTTP that have nothing to stream, answered with one
// application/json body by a server instance kept connected between calls: the SDK's stateless fallback builds an
// instance, a transport, a web Response and an SSE stream for every call. A call with a progressToken still streams.
import type { IncomingHttpHeaders } from 'node:http';
import {
  isJsonContentType,
  PROTOCOL_VERSION_META_KEY,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type McpServer,
  type MessageExtraInfo,
  type Transport,
} from '@modelcontextprotocol/server';
import { leavesNoState } from './http-instance-pool.js';
import { isRequest, isResponse } from './jsonrpc-shape.js';

/** JSON-RPC messages in one body at most, as the SDK's transport allows. */
const MAX_BATCH = 100;

/**
 * Whether anything could go out before the response: this server sends nothing mid-call (no logging, no
 * server-to-client requests) except progress notifications, and those only for a request that carries a
 * progressToken. Anything that is not a plain list of messages counts as streaming (the SDK then decides).
 */
export function mayStream(body: unknown): boolean {
  for (const message of Array.isArray(body) ? body : [body]) {
    if (typeof message !== 'object' || message === null) return true;
    const params = (message as Record<string, unknown>)['params'];
    if (params === undefined) continue;
    if (typeof params !== 'object' || params === null) return true;
    const meta = (params as Record<string, unknown>)['_meta'];
    if (meta === undefined) continue;
    if (typeof meta !== 'object' || meta === null) return true;
    if ((meta as Record<string, unknown>)['progressToken'] !== undefined) return true;
  }
  return false;
}

/**
 * Whether a body claims the 2026-07-28 era: such a request carries the protocol version in its envelope, and the
 * SDK never routes a claim to its 2025 serving, so the full classification can be skipped for it.
 */
export function claimsModernEra(body: unknown): boolean {
  return (Array.isArray(body) ? body : [body]).some((m) => {
    const params = typeof m === 'object' && m !== null ? (m as Record<string, unknown>)['params'] : undefined;
    const meta =
      typeof params === 'object' && params !== null
        ? (params as Record<string, unknown>)['_meta']
        : undefined;
    return typeof meta === 'object' && meta !== null && PROTOCOL_VERSION_META_KEY in meta;
  });
}

/**
 * The requests of a 2025-era POST this path serves, or undefined to leave it to the SDK: well-formed JSON-RPC
 * requests with distinct ids that leave nothing in an instance and cannot stream, sent the way the SDK's transport
 * accepts (so anything it would refuse still gets its answer from the SDK). The SDK's own era check
 * (`isLegacyRequest`) routes exactly these bodies to its 2025 serving: no message claims the 2026-07-28 envelope, the
 * `MCP-Protocol-Version` header is absent or a 2025-era version, and none is `initialize`; the check is made here
 * on the parsed body and the node headers, before any web Request is built, since both cost more than the rest.
 */
export function plainRequests(body: unknown, headers: IncomingHttpHeaders): JSONRPCRequest[] | undefined {
  if (!isJsonContentType(headers['content-type']) || claimsModernEra(body)) return undefined;
  if (!leavesNoState(body) || mayStream(body)) return undefined;
  const accept = headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  const version = headers['mcp-protocol-version'];
  if (
    version !== undefined &&
    (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))
  )
    return undefined;
  const list: unknown[] = Array.isArray(body) ? body : [body];
  if (list.length > MAX_BATCH || !list.every((m) => isRequest(m))) return undefined;
  const requests = list as JSONRPCRequest[];
  if (new Set(requests.map((r) => r.id)).size !== requests.length) return undefined;
  return requests;
}

/**
 * What a plain call's handlers see of its HTTP request (the SDK hands it to them as `ctx.http.req`): the method,
 * URL and headers, and the signal that aborts when the client goes away. A web Request would carry a body stream
 * too, which is already read and parsed; building one costs more than the rest of the call's HTTP work.
 */
export interface PlainRequest {
  method: string;
  url: string;
  headers: Headers;
  signal: AbortSignal;
}

/** The exchange a lane carries: its requests, the responses so far, and how to settle it. */
interface Exchange {
  requests: JSONRPCRequest[];
  responses: Map<string | number, JSONRPCMessage>;
  settle: (body: string | undefined) => void;
}

/**
 * A server instance kept connected to a transport that carries one exchange at a time, so that a call costs
 * neither building an instance nor connecting one. An exchange settles with the JSON body once each of its
 * requests has its response, or with undefined when the lane closes first.
 */
class Lane implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  closed = false;
  private current: Exchange | undefined;

  async start(): Promise<void> {}

  carry(request: PlainRequest, requests: JSONRPCRequest[]): Promise<string | undefined> {
    // The SDK reads only the fields PlainRequest has (see there).
    const extra = { request: request as unknown as Request };
    return new Promise((settle) => {
      this.current = { requests, responses: new Map(), settle };
      for (const message of requests) this.onmessage?.(message, extra);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    // Nothing else can be related to these requests (see mayStream); anything unrelated has nowhere to go. The
    // responses are the SDK's own, built from results it has checked: no schema is run on them again.
    if (!isResponse(message) || !('id' in message)) return;
    const exchange = this.current;
    if (exchange === undefined || !exchange.requests.some((r) => r.id === message.id)) return;
    exchange.responses.set(message.id as string | number, message);
    if (exchange.responses.size < exchange.requests.length) return;
    this.current = undefined;
    const ordered = exchange.requests.map((r) => exchange.responses.get(r.id));
    exchange.settle(JSON.stringify(ordered.length === 1 ? ordered[0] : ordered));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.current?.settle(undefined);
    this.current = undefined;
    this.onclose?.();
  }
}

/** One client's plain JSON calls, served on lanes kept between calls (at most `maxIdle` idle ones). */
export class PlainJsonCalls {
  private readonly idle: Lane[] = [];

  constructor(
    private readonly build: () => McpServer,
    private readonly maxIdle = 4,
  ) {}

  /**
   * Serves the requests and resolves with the JSON body of the answer. When `request`'s signal aborts first (the
   * client went away, or cancelled a request it carries), the lane closes, which aborts the tool call, and is
   * dropped; the result is then undefined: no response, as for a cancelled streamed call.
   */
  async serve(request: PlainRequest, requests: JSONRPCRequest[]): Promise<string | undefined> {
    const lane = this.idle.pop() ?? (await this.open());
    const abort = (): void => void lane.close();
    request.signal.addEventListener('abort', abort, { once: true });
    try {
      if (request.signal.aborted) abort();
      const body = lane.closed ? undefined : await lane.carry(request, requests);
      if (!lane.closed && this.idle.length < this.maxIdle) this.idle.push(lane);
      else void lane.close();
      return body;
    } finally {
      request.signal.removeEventListener('abort', abort);
    }
  }

  /** Closes the idle lanes (the server is stopping). */
  async close(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((lane) => lane.close()));
  }

  private async open(): Promise<Lane> {
    const lane = new Lane();
    await this.build().connect(lane);
    return lane;
  }
}
