// Cancellation over Streamable HTTP: 2025-era clients send notifications/cancelled in a POST of its own, which the
// stateless server instance answering it cannot route; this aborts the open exchange that carries the named request.

/** The open exchanges of one client (one token), by the JSON-RPC ids of the requests they carry. */
export class HttpExchanges {
  private readonly byId = new Map<string, Set<AbortController>>();

  /**
   * Records the requests in a POST body as carried by the exchange `abort` ends; the returned function forgets
   * them once the exchange is over.
   */
  track(body: unknown, abort: AbortController): () => void {
    const keys = messages(body)
      .filter((m) => typeof m['method'] === 'string')
      .map((m) => idKey(m['id']))
      .filter((k): k is string => k !== undefined);
    for (const key of keys) {
      let set = this.byId.get(key);
      if (!set) this.byId.set(key, (set = new Set()));
      set.add(abort);
    }
    return () => {
      for (const key of keys) {
        const set = this.byId.get(key);
        set?.delete(abort);
        if (set?.size === 0) this.byId.delete(key);
      }
    };
  }

  /**
   * For each notifications/cancelled in a POST body, aborts the exchange carrying the request it names: the
   * server instance of that exchange closes, which aborts the tool call's signal. Clients that share a token
   * number their requests independently, so an id open in more than one exchange is ambiguous and is left alone
   * rather than stopping another client's call.
   */
  cancel(body: unknown): void {
    for (const m of messages(body)) {
      if (m['method'] !== 'notifications/cancelled' || 'id' in m) continue;
      const params = m['params'] as Record<string, unknown> | undefined;
      const key = idKey(params?.['requestId']);
      const open = key === undefined ? undefined : this.byId.get(key);
      if (open?.size !== 1) continue;
      for (const abort of open) abort.abort(params?.['reason']);
    }
  }
}

/** The JSON body as a sequence of message objects (a single message, or a batch). */
function messages(body: unknown): Record<string, unknown>[] {
  const list = Array.isArray(body) ? body : [body];
  return list.filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null);
}

/** JSON-RPC ids are strings or numbers, and 1 and "1" are different requests. */
function idKey(id: unknown): string | undefined {
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number' && Number.isFinite(id)) return `n:${id}`;
  return undefined;
}

/** The body as JSON, or undefined when it is not JSON (the SDK answers that with its own parse error). */
export function parseJsonBody(body: Buffer | undefined): unknown {
  if (body === undefined || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
