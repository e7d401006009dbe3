// A fetch for the SDK's HTTP transport that opens a new connection for every request (node:http without an agent),
// as a client does after an idle pause: a call must get through whatever else holds the server's connections.
import { request } from 'node:http';

export const freshConnectionFetch: typeof fetch = (input, init) =>
  new Promise((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: init?.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const answer = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (typeof v === 'string') answer.set(k, v);
            else if (Array.isArray(v)) for (const one of v) answer.append(k, one);
          const body = [101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: answer }));
        });
      },
    );
    const onAbort = () => req.destroy(new Error('aborted'));
    init?.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => init?.signal?.removeEventListener('abort', onAbort));
    req.on('error', reject);
    req.end(typeof init?.body === 'string' ? init.body : undefined);
  });
