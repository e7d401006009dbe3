// Cancellation over Streamable HTTP: a call the client aborts (notifications/cancelled) is interrupted in the
// box, the session keeps its state, and its next call starts at once instead of waiting for the cancelled one.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { connectHttp, type Era } from './harness.js';
import { httpServerFixture } from './http-server-fixture.js';
import { until } from './until.js';

const SLEEP_S = 30;

type Call = (name: string, args: Record<string, unknown>, signal?: AbortSignal) => Promise<CallToolResult>;

const v2Call =
  (client: Client): Call =>
  async (name, args, signal) =>
    (await client.callTool({ name, arguments: args }, { signal })) as CallToolResult;

/** A cell that marks its start with a file in its workspace, then sleeps. */
const markedSleep = (seconds: number, then: string) =>
  `import time\nopen('started.mark', 'w').close()\nstarted = True\ntime.sleep(${seconds})\n${then}`;

describe('cancellation over HTTP', () => {
  const server = httpServerFixture();

  /** A plain call streams nothing back while it runs: its cell's start is seen in the session's workspace. */
  const cellStarted = (sessionId: string) =>
    until(
      () => existsSync(join(server.proc.dataDir, 'sessions', sessionId, 'workspace', 'started.mark')),
      `the cell of ${sessionId} to start`,
    );

  async function v2(era: Era): Promise<Call> {
    const client = await connectHttp(server.proc.url, server.proc.token, era);
    server.onClose(() => client.close());
    return v2Call(client);
  }

  async function v1(): Promise<Call> {
    const client = await server.connectV1('cancel-sdk-1');
    return async (name, args, signal) =>
      (await client.callTool({ name, arguments: args }, undefined, { signal })) as CallToolResult;
  }

  it.each([
    ['SDK v2, protocol era 2025', () => v2('2025')],
    ['SDK v2, protocol era 2026', () => v2('2026')],
    ['SDK 1.x', v1],
  ])(
    '%s: interrupts a cancelled call; the session survives and its next call runs at once',
    async (_, connect) => {
      const call = await connect();
      // Each variant in a session of its own, so one variant's cell cannot hold up another's.
      const created = (await call('create_session', {})).structuredContent as Record<string, any>;
      const sessionId = created['session_id'] as string;
      expect((await call('execute', { session_id: sessionId, code: 'kept = 41' })).isError).toBeFalsy();

      const abort = new AbortController();
      const t0 = Date.now();
      const sleeping = call(
        'execute',
        { session_id: sessionId, code: markedSleep(SLEEP_S, 'finished = True') },
        abort.signal,
      );
      await cellStarted(sessionId);
      abort.abort('the user pressed stop');
      await expect(sleeping).rejects.toThrow();

      const next = (
        await call('execute', {
          session_id: sessionId,
          code: "(kept + 1, 'started' in globals(), 'finished' in globals())",
        })
      ).structuredContent as Record<string, any>;
      const waited = Date.now() - t0;
      expect(next['status']).toBe('ok');
      // The cell was stopped in its sleep (it started, never finished) and the namespace is the same.
      expect(next['result']['text/plain']).toBe('(42, True, False)');
      expect(waited, 'the next call waited for the cancelled one').toBeLessThan((SLEEP_S / 3) * 1000);
    },
    60_000,
  );

  it('a cancellation naming an id that two clients of one token have open stops neither call', async () => {
    // Clients that share a token number their requests independently, so the same id can be open twice.
    const sentIds: Array<Array<string | number>> = [[], []];
    const clients = await Promise.all(
      sentIds.map(async (ids) => {
        const client = new Client(
          { name: 'cancel-shared', version: '1.0.0' },
          { versionNegotiation: { mode: 'legacy' } },
        );
        await client.connect(
          new StreamableHTTPClientTransport(new URL(server.proc.url), {
            requestInit: { headers: server.auth() },
            fetch: async (input, init) => {
              const msg =
                typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, any>) : {};
              if (msg['method'] === 'tools/call') ids.push(msg['id']);
              return fetch(input, init);
            },
          }),
        );
        server.onClose(() => client.close());
        return v2Call(client);
      }),
    );
    const [a, b] = clients as [Call, Call];
    const sa = (await a('create_session', {})).structuredContent as Record<string, any>;
    const sb = (await b('create_session', {})).structuredContent as Record<string, any>;
    const cell = markedSleep(3, 'finished = True\n"done"');
    const abort = new AbortController();
    const cancelled = a('execute', { session_id: sa['session_id'], code: cell }, abort.signal);
    const other = b('execute', { session_id: sb['session_id'], code: cell });
    await Promise.all([cellStarted(sa['session_id']), cellStarted(sb['session_id'])]);
    expect(sentIds[0]!.at(-1), 'both sleeping calls carry the same id').toBe(sentIds[1]!.at(-1));
    abort.abort('stop');
    await expect(cancelled).rejects.toThrow();
    const r = (await other).structuredContent as Record<string, any>;
    expect(r['status']).toBe('ok');
    expect(r['result']['text/plain']).toBe("'done'");
  }, 60_000);
});
