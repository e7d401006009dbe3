// Waits until an app answers HTTP, through its relay (a host URL, a Unix socket, or a connection opened another way:
// a Docker box's exec stream); any HTTP status counts as an answer. It never retries past its deadline and never
// keeps a connection open.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { pinSocket } from './socket-path.js';

export type HttpTarget = { url: string } | { socketPath: string } | { connect: () => Duplex };

/** One GET /; resolves with the status code, rejects when nothing answers HTTP within timeoutMs. */
export function httpGet(target: HttpTarget, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let release = () => {};
    if ('socketPath' in target) {
      try {
        const pinned = pinSocket(target.socketPath);
        release = pinned.release;
        target = { socketPath: pinned.path };
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    const opts: http.RequestOptions =
      'url' in target
        ? { ...urlOptions(target.url), agent: false, timeout: timeoutMs }
        : {
            // a one-off connection either way: createConnection is used only when no agent is given
            ...('connect' in target
              ? { createConnection: target.connect as unknown as http.RequestOptions['createConnection'] }
              : { socketPath: target.socketPath, agent: false }),
            path: '/',
            timeout: timeoutMs,
            headers: { Host: 'localhost' },
          };
    const req = http.get(opts, (res) => {
      clearTimeout(timer);
      res.resume();
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    // a deadline of its own: a connection made another way may not time out as a net.Socket does
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.on('close', () => {
      clearTimeout(timer);
      release();
    });
  });
}

function urlOptions(url: string): http.RequestOptions {
  const u = new URL(url);
  return { hostname: u.hostname, port: u.port, path: u.pathname + u.search };
}

export interface ReadyOutcome {
  status: number;
  ms: number;
}

/**
 * Polls until the target answers, `gone` settles (the app exited: rejects with what gone settled with), or
 * timeoutMs passes (rejects with a timeout error).
 */
export async function waitForHttp(
  target: HttpTarget,
  timeoutMs: number,
  gone: Promise<unknown>,
): Promise<ReadyOutcome> {
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  let ended: { value: unknown } | null = null;
  const goneFlag = gone.then(
    (value) => {
      ended = { value };
    },
    (value: unknown) => {
      ended = { value };
    },
  );
  let wait = 25;
  for (;;) {
    if (ended) throw new AppGoneError((ended as { value: unknown }).value);
    const left = deadline - performance.now();
    if (left <= 0) throw new ReadyTimeoutError(timeoutMs);
    try {
      const status = await Promise.race([httpGet(target, Math.min(5000, Math.max(left, 50))), goneFlag]);
      if (typeof status === 'number') return { status, ms: performance.now() - t0 };
    } catch {
      // not answering yet
    }
    if (ended) continue;
    await Promise.race([new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, left)))), goneFlag]);
    wait = Math.min(wait * 2, 200);
  }
}

export class AppGoneError extends Error {
  constructor(readonly outcome: unknown) {
    super('the app ended before it answered HTTP');
  }
}

export class ReadyTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the app did not answer HTTP within ${timeoutMs / 1000} s`);
  }
}
