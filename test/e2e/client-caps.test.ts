// End-to-end: caps per client (an HTTP token, or the stdio client) on sessions, memory and running web apps, and
// caps on all clients together; a full cap answers resource_exhausted naming it, and closing or stopping frees room.
import type { Client } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, errorOf, startHttpProcess, startStdio } from './harness.js';

const TOKEN_A = 'client-a-token-0123456789abcdef';
const TOKEN_B = 'client-b-token-0123456789abcdef';
const PAGE = '<!doctype html><title>t</title><p>tiny</p>';

type Call = (name: string, args?: Record<string, unknown>) => Promise<CallToolResult>;

function caller(client: Client): Call {
  return async (name, args = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;
}

async function ok(
  call: Call,
  name: string,
  args: Record<string, unknown> = {},
): Promise<Record<string, any>> {
  const res = await call(name, args);
  if (res.isError) throw new Error(`${name} failed: ${JSON.stringify(errorOf(res))}`);
  return res.structuredContent as Record<string, any>;
}

async function exhausted(call: Call, name: string, args: Record<string, unknown> = {}) {
  const res = await call(name, args);
  expect(res.isError, `${name} should have been refused`).toBe(true);
  const err = errorOf(res);
  expect(err.code).toBe('resource_exhausted');
  return err;
}

/** Of calls raced against a cap with one place left, exactly one gets it; the rest are refused naming the cap. */
function oneWins(raced: CallToolResult[], cap: string): void {
  expect(raced.filter((r) => !r.isError)).toHaveLength(1);
  expect(raced.filter((r) => r.isError).map((r) => errorOf(r).details.cap)).toEqual(
    raced.slice(1).map(() => cap),
  );
}

describe('caps per client over HTTP, two tokens', () => {
  let stop: () => Promise<void>;
  let a: Client;
  let b: Client;
  let callA: Call;
  let callB: Call;
  beforeAll(async () => {
    const proc = await startHttpProcess({
      token: `${TOKEN_A},${TOKEN_B}`,
      args: [
        ...['--memory-mb', '256', '--max-sessions', '3', '--client-memory-mb', '600'],
        ...['--total-memory-mb', '1100', '--max-web-apps', '1', '--pool-size', '0'],
      ],
    });
    stop = proc.stop;
    a = await connectHttp(proc.url, TOKEN_A);
    b = await connectHttp(proc.url, TOKEN_B);
    callA = caller(a);
    callB = caller(b);
  });
  afterAll(async () => {
    await a?.close().catch(() => undefined);
    await b?.close().catch(() => undefined);
    await stop?.();
  });

  it("caps a client's sessions and memory, not the other client's, until the whole server is full", async () => {
    const s1 = await ok(callA, 'create_session');
    const s2 = await ok(callA, 'create_session');
    const memory = await exhausted(callA, 'create_session');
    expect(memory.details).toMatchObject({
      cap: 'client_memory_mb',
      setting: '--client-memory-mb',
      limit: 600,
      in_use: 512,
      available: 88,
    });
    expect(memory.hint).toMatch(/close_session/);
    expect(memory.hint).toMatch(/memory_mb of at most 88/);
    const s3 = await ok(callA, 'create_session', { memory_mb: 64 });
    const count = await exhausted(callA, 'create_session', { memory_mb: 64 });
    expect(count.details).toMatchObject({
      cap: 'max_sessions',
      setting: '--max-sessions',
      limit: 3,
      in_use: 3,
    });
    expect(count.hint).toMatch(/close_session/);
    // The default session that a call without session_id opens is a session like any other.
    expect((await exhausted(callA, 'execute', { code: '1' })).details.cap).toBe('max_sessions');

    // Parallel creates cannot slip past the cap together.
    await ok(callA, 'close_session', { session_id: s3.session_id });
    const raced = await Promise.all([1, 2, 3].map(() => callA('create_session', { memory_mb: 64 })));
    oneWins(raced, 'max_sessions');

    // Client B has caps of its own: A's sessions take none of B's room, only of the server's.
    const b1 = await ok(callB, 'create_session');
    await ok(callB, 'create_session');
    const total = await exhausted(callB, 'create_session', { memory_mb: 64 });
    expect(total.details).toMatchObject({
      cap: 'total_memory_mb',
      setting: '--total-memory-mb',
      limit: 1100,
      in_use: 1088,
      available: 12,
    });
    expect(total.hint).toMatch(/close_session/);

    // Closing frees room at once.
    await ok(callA, 'close_session', { session_id: s2.session_id });
    expect((await ok(callB, 'create_session', { memory_mb: 64 })).memory_mb).toBe(64);
    expect((await ok(callA, 'list_sessions')).sessions.map((s: any) => s.session_id)).toContain(
      s1.session_id,
    );
    expect((await ok(callB, 'list_sessions')).sessions.map((s: any) => s.session_id)).toContain(
      b1.session_id,
    );
  });

  it("caps a client's running web apps; stop_web_app frees the place, and the other client has its own", async () => {
    const sa = (await ok(callA, 'list_sessions')).sessions[0].session_id as string;
    const sb = (await ok(callB, 'list_sessions')).sessions[0].session_id as string;
    const first = await ok(callA, 'start_web_app', { code: PAGE, app_type: 'static', session_id: sa });
    expect(first.status).toBe('running');
    const second = await exhausted(callA, 'start_web_app', {
      code: PAGE,
      app_type: 'static',
      session_id: sa,
    });
    expect(second.details).toMatchObject({
      cap: 'max_web_apps',
      setting: '--max-web-apps',
      limit: 1,
      in_use: 1,
    });
    expect(second.hint).toMatch(/stop_web_app/);
    expect(
      (await ok(callB, 'start_web_app', { code: PAGE, app_type: 'static', session_id: sb })).status,
    ).toBe('running');

    await ok(callA, 'stop_web_app', { app_id: first.app_id });
    // Parallel starts: one gets the freed place, the others are refused before anything starts.
    const raced = await Promise.all(
      [1, 2, 3].map(() => callA('start_web_app', { code: PAGE, app_type: 'static', session_id: sa })),
    );
    oneWins(raced, 'max_web_apps');
    const apps = (await ok(callA, 'list_web_apps')).apps as Array<{ status: string }>;
    expect(apps.filter((x) => x.status === 'running')).toHaveLength(1);
  });
});

describe('the processes of all sessions together, over stdio', () => {
  it('refuses a session whose pids limit would pass --total-pids', async () => {
    const h = await startStdio({ args: ['--pids', '32', '--total-pids', '64', '--pool-size', '0'] });
    try {
      const call: Call = (name, args = {}) => h.call(name, args);
      const first = await ok(call, 'create_session');
      await ok(call, 'create_session');
      const err = await exhausted(call, 'create_session');
      expect(err.details).toMatchObject({
        cap: 'total_pids',
        setting: '--total-pids',
        limit: 64,
        in_use: 64,
      });
      await ok(call, 'close_session', { session_id: first.session_id });
      await ok(call, 'create_session');
    } finally {
      await h.close();
    }
  });
});
