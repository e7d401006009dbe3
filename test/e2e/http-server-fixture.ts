// For the tests of one file: a real server over Streamable HTTP, and the clients they connect to it (an SDK v2 or an
// SDK 1.x client, through a fetch of their own if they like), all closed after the file's tests.
import { afterAll, beforeAll } from 'vitest';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startHttpProcess, type StartOptions } from './harness.js';

export type HttpProcess = Awaited<ReturnType<typeof startHttpProcess>>;

export interface HttpServerFixture {
  /** The server process; set in beforeAll. */
  proc: HttpProcess;
  /** The bearer header of the server's token. */
  auth(): { Authorization: string };
  /** Closes `close` after the file's tests, before the server stops. */
  onClose(close: () => Promise<void>): void;
  /** An SDK 1.x client connected with the server's token, closed after the file's tests. */
  connectV1(name: string, fetch?: typeof globalThis.fetch): Promise<V1Client>;
}

export function httpServerFixture(opts: StartOptions & { token?: string } = {}): HttpServerFixture {
  const closers: Array<() => Promise<void>> = [];
  const fixture: HttpServerFixture = {
    proc: undefined as unknown as HttpProcess,
    auth: () => ({ Authorization: `Bearer ${fixture.proc.token}` }),
    onClose: (close) => void closers.push(close),
    connectV1: async (name, fetch) => {
      const client = new V1Client({ name, version: '1.0.0' });
      await client.connect(
        new V1Transport(new URL(fixture.proc.url), {
          requestInit: { headers: fixture.auth() },
          ...(fetch ? { fetch } : {}),
        }),
      );
      closers.push(() => client.close());
      return client;
    },
  };
  beforeAll(async () => {
    fixture.proc = await startHttpProcess(opts);
  });
  afterAll(async () => {
    for (const close of closers) await close().catch(() => undefined);
    await fixture.proc?.stop();
  });
  return fixture;
}
