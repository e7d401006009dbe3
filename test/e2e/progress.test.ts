// Long calls against client timeouts: a long call sends progress to a client that asked for it (so a client that
// resets its timeout on progress keeps waiting), the default cell limit ends before the SDK's 60 s request timeout,
// and a call the client gives up on (its timeout, or a dropped HTTP connection) is interrupted in the box.
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as V1HttpClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { CLI, baseEnv, startHttpProcess } from './harness.js';
import { until } from './until.js';

type V1Options = Parameters<V1Client['callTool']>[2];
interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** The SDK 1.x client as most Node hosts embed it, over stdio (spawning the server) or HTTP. */
interface V1 {
  call(name: string, args: Record<string, unknown>, opts?: V1Options): Promise<CallToolResult>;
  session(): Promise<string>;
  close(): Promise<void>;
}

async function v1Stdio(dataDir: string, args: string[] = []): Promise<V1> {
  const client = new V1Client({ name: 'progress-sdk-1', version: '1.0.0' });
  await client.connect(
    new V1StdioClientTransport({
      command: process.execPath,
      args: [CLI, '--data-dir', dataDir, '--pool-size', '1', ...args],
      env: baseEnv(),
      stderr: 'pipe',
    }),
  );
  return wrapV1(client);
}

async function v1Http(url: string, token: string): Promise<V1> {
  const client = new V1Client({ name: 'progress-sdk-1', version: '1.0.0' });
  await client.connect(
    new V1HttpClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return wrapV1(client);
}

function wrapV1(client: V1Client): V1 {
  const call: V1['call'] = async (name, args, opts) =>
    (await client.callTool({ name, arguments: args }, undefined, opts)) as CallToolResult;
  return {
    call,
    session: async () => {
      const r = await call('create_session', {});
      return (r.structuredContent as { session_id: string }).session_id;
    },
    close: () => client.close(),
  };
}

/** A call that is silent for `seconds` under a client timeout shorter than that, which progress must keep resetting. */
async function silentCallUnderTimeout(
  client: V1,
  tool: string,
  args: Record<string, unknown>,
): Promise<{ result: CallToolResult; progress: Progress[]; ms: number }> {
  const progress: Progress[] = [];
  const t0 = Date.now();
  const result = await client.call(tool, args, {
    timeout: 7000,
    resetTimeoutOnProgress: true,
    onprogress: (p) => progress.push(p),
  });
  return { result, progress, ms: Date.now() - t0 };
}

function expectIncreasing(progress: Progress[]): void {
  for (let i = 1; i < progress.length; i++)
    expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
}

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'sandbox-mcp-progress-'));
  dirs.push(d);
  return d;
};

describe('long calls against client timeouts', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let stdio: V1;
  let overHttp: V1;

  beforeAll(async () => {
    [http, stdio] = await Promise.all([startHttpProcess(), v1Stdio(dataDir(), ['--tools', 'full'])]);
    overHttp = await v1Http(http.url, http.token);
  });
  afterAll(async () => {
    await stdio?.close().catch(() => undefined);
    await overHttp?.close().catch(() => undefined);
    await http?.stop();
    for (const d of [...dirs, http?.dataDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('keeps a client that resets its timeout on progress waiting through a silent 12 s execute and command', async () => {
    const [stdioSession, httpSession, shellSession] = await Promise.all([
      stdio.session(),
      overHttp.session(),
      stdio.session(),
    ]);
    const code = 'import time\ntime.sleep(12)\n"slept"';
    const runs = await Promise.all([
      silentCallUnderTimeout(stdio, 'execute', { code, session_id: stdioSession }),
      silentCallUnderTimeout(overHttp, 'execute', { code, session_id: httpSession }),
      silentCallUnderTimeout(stdio, 'shell_execute', {
        command: 'sleep 12; echo slept',
        session_id: shellSession,
      }),
    ]);
    for (const run of runs) {
      expect(run.result.isError).toBeFalsy();
      expect(JSON.stringify(run.result.structuredContent)).toContain('slept');
      expect(run.ms).toBeGreaterThan(11_000);
      // A heartbeat at least every 5 s of silence, each value above the last, each saying how long it has run.
      expect(run.progress.length).toBeGreaterThanOrEqual(2);
      expectIncreasing(run.progress);
      expect(run.progress[0]!.message).toMatch(/still running \(\d+ s\)/);
    }
  }, 60_000);

  it('ends a cell at the default limit with the structured timeout before the SDK client gives up at 60 s', async () => {
    // The SDK 1.x client's defaults: 60 s request timeout, no progress, no reset.
    const session = await overHttp.session();
    const t0 = Date.now();
    const r = await overHttp.call('execute', {
      code: 'import time\nwhile True:\n    time.sleep(0.5)',
      session_id: session,
    });
    const sc = r.structuredContent as Record<string, any>;
    expect(sc.status).toBe('timeout');
    expect(sc.error.code).toBe('timeout');
    expect(sc.error.hint).toMatch(/timeout/);
    expect(Date.now() - t0).toBeLessThan(58_000);
  }, 90_000);

  it.each([
    ['stdio', () => stdio],
    ['HTTP', () => overHttp],
  ])(
    'interrupts a call whose client timed out (%s): the SDK sends notifications/cancelled',
    async (_, client) => {
      const c = client();
      const session = await c.session();
      await c.call('execute', { code: 'kept = 41', session_id: session });
      const giveUp = c.call(
        'execute',
        { code: 'import time\ntime.sleep(30)\nfinished = True', session_id: session },
        { timeout: 2500 },
      );
      await expect(giveUp).rejects.toMatchObject({ code: -32001 });
      const t0 = Date.now();
      const next = await c.call('execute', {
        code: "(kept + 1, 'finished' in globals())",
        session_id: session,
      });
      expect(Date.now() - t0).toBeLessThan(8000);
      expect((next.structuredContent as any).result['text/plain']).toBe('(42, False)');
    },
    40_000,
  );

  it('interrupts a call whose HTTP client just closed its connection', async () => {
    const session = await overHttp.session();
    await overHttp.call('execute', { code: 'kept = 41', session_id: session });
    const url = new URL(http.url);
    // A 2025-11-25 client's tools/call, dropped once its cell runs: no notifications/cancelled, only the closed socket.
    const mark = join(http.dataDir, 'sessions', session, 'workspace', 'started.mark');
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          Authorization: `Bearer ${http.token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'MCP-Protocol-Version': '2025-11-25',
        },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      // a plain call streams nothing back while it runs: the cell's start is seen in its workspace
      const drop = () => req.destroy();
      void until(() => existsSync(mark), 'the cell to start').then(drop, drop);
      req.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 'dropped-1',
          method: 'tools/call',
          params: {
            name: 'execute',
            arguments: {
              code: "import time\nopen('started.mark', 'w').close()\ntime.sleep(30)\nfinished = True",
              session_id: session,
            },
          },
        }),
      );
    });
    const t0 = Date.now();
    const next = await overHttp.call('execute', {
      code: "(kept + 1, 'finished' in globals())",
      session_id: session,
    });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect((next.structuredContent as any).result['text/plain']).toBe('(42, False)');
  }, 40_000);
});
