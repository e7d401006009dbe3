// Which HTTP exchanges leave nothing behind in a server instance, and the idle instances one client keeps between
// such 2026-07-28 exchanges: building an instance (every tool, resource and prompt registered, output schemas
// converted) costs more than the rest of a per-request exchange.
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type McpServer,
} from '@modelcontextprotocol/server';

/**
 * Requests whose handlers read an instance and never change it. initialize does (client identity, negotiated
 * version), as would any subscription or logging level; an exchange with anything else gets an instance of its own.
 */
const STATELESS_METHODS = new Set([
  'tools/call',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'ping',
]);

/** Whether every message of a POST body is a request an instance serves without keeping anything of it. */
export function leavesNoState(body: unknown): boolean {
  const list = Array.isArray(body) ? body : [body];
  return (
    list.length > 0 &&
    list.every((m) => {
      if (typeof m !== 'object' || m === null) return false;
      const { method, id } = m as Record<string, unknown>;
      return typeof method === 'string' && STATELESS_METHODS.has(method) && id !== undefined;
    })
  );
}

/**
 * Whether a 2026-07-28 request names its client in full: the SDK seeds an instance's client identity from each
 * request's envelope but keeps what the envelope leaves out, so only such a request may run on a reused instance.
 */
export function namesItsClient(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const params = (body as Record<string, unknown>)['params'];
  if (typeof params !== 'object' || params === null) return false;
  const meta = (params as Record<string, unknown>)['_meta'];
  if (typeof meta !== 'object' || meta === null) return false;
  const m = meta as Record<string, unknown>;
  return m[CLIENT_INFO_META_KEY] !== undefined && m[CLIENT_CAPABILITIES_META_KEY] !== undefined;
}

export class InstancePool {
  private readonly idle: McpServer[] = [];

  constructor(
    private readonly build: () => McpServer,
    /** Idle instances kept at most: enough for a client's usual parallel calls, little memory. */
    private readonly max = 4,
  ) {}

  /** An idle instance, or a new one. */
  take(): McpServer {
    return this.idle.pop() ?? this.build();
  }

  /**
   * An instance for an exchange that ends by closing it (the SDK's per-request serving): it comes back when it
   * closes, unless the exchange was aborted first.
   */
  lend(aborted: AbortSignal): McpServer {
    const instance = this.take();
    instance.server.onclose = () => {
      if (!aborted.aborted) this.give(instance);
    };
    return instance;
  }

  /** Takes back an instance whose exchange ended normally; it must be closed (connected to no transport). */
  give(instance: McpServer): void {
    if (instance.isConnected() || this.idle.includes(instance) || this.idle.length >= this.max) return;
    this.idle.push(instance);
  }
}
