// Starts the real built server (dist/) as a child process and connects the SDK's Client to it over stdio or HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { findDockerEndpoint } from '../../src/sandbox/docker/endpoint.js';
import { engineEnv, prepareBoxImage, startTestEngine } from './docker-engine.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/bin/sandbox-mcp.js');

export type TransportKind = 'stdio' | 'http';

export interface Harness {
  client: Client;
  dataDir: string;
  url?: string;
  token?: string;
  call(
    name: string,
    args?: Record<string, unknown>,
    opts?: Parameters<Client['callTool']>[1],
  ): Promise<CallToolResult>;
  /** structuredContent of a call, typed loosely for assertions. */
  sc(name: string, args?: Record<string, unknown>): Promise<Record<string, any>>;
  close(opts?: { keepData?: boolean }): Promise<void>;
  child?: ChildProcess;
}

export type Era = '2025' | '2026';

export interface StartOptions {
  /** Protocol era the client negotiates: the 2025-11-25 initialize handshake, or 2026-07-28. */
  era?: Era;
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Runs the server as this host user (through setpriv), with these supplementary groups (default none). */
  runAs?: { uid: number; gid: number; groups?: number[] };
  /** A command the stdio server runs under (e.g. in a private mount namespace); the server's command line follows it. */
  wrapper?: string[];
}

function newClient(era: Era = '2025'): Client {
  return new Client(
    { name: 'e2e', version: '1.0.0' },
    { versionNegotiation: { mode: era === '2026' ? 'auto' : 'legacy' } },
  );
}

function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'sandbox-mcp-test-'));
}

function wrap(
  client: Client,
  dataDir: string,
  closeFn: () => Promise<void>,
  extra: Partial<Harness> = {},
): Harness {
  const call: Harness['call'] = async (name, args = {}, opts) =>
    (await client.callTool({ name, arguments: args }, opts)) as CallToolResult;
  return {
    client,
    dataDir,
    call,
    sc: async (name, args = {}) => (await call(name, args)).structuredContent as Record<string, any>,
    close: async (o) => {
      await closeFn();
      if (!o?.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
    ...extra,
  };
}

/**
 * The error body an agent gets from a failed call: structuredContent.error of a full result (a failed run, a
 * command that timed out), else the JSON `{"error": …}` that is the text of an error result. Throws when neither.
 */
export function errorOf(r: CallToolResult): Record<string, any> {
  const sc = r.structuredContent as { error?: Record<string, any> | null } | undefined;
  if (sc?.error) return sc.error;
  const text = r.content.find((c) => c.type === 'text')?.text ?? '';
  let body: { error?: Record<string, any> } | undefined;
  try {
    body = JSON.parse(text) as { error?: Record<string, any> };
  } catch {
    body = undefined;
  }
  if (!body?.error) throw new Error(`no error in the result: ${text.slice(0, 300)}`);
  return body.error;
}

/** `SANDBOX_MCP_TEST_BACKEND=docker`: the suite's servers run their boxes on the Docker backend (a private engine). */
export const TEST_BACKEND: 'bwrap' | 'docker' =
  process.env.SANDBOX_MCP_TEST_BACKEND === 'docker' ? 'docker' : 'bwrap';

/** Whether the suite's servers see a Docker engine: the Docker test backend's, or one at the usual sockets. */
export function serversSeeEngine(): boolean {
  return TEST_BACKEND === 'docker' || findDockerEndpoint(baseEnv()) !== null;
}

let dockerEnv: Record<string, string> | null = null;

/** The server arguments and environment of the test backend; on Docker, the engine and box image are ready once. */
export function backend(): { args: string[]; env: Record<string, string> } {
  if (TEST_BACKEND === 'bwrap') return { args: [], env: {} };
  if (!dockerEnv) {
    const engine = startTestEngine();
    if ('skip' in engine) throw new Error(`SANDBOX_MCP_TEST_BACKEND=docker, but: ${engine.skip}`);
    const env = engineEnv(engine);
    // builds the box image (or finds it) before any call with a client-side timeout
    prepareBoxImage(CLI, env);
    dockerEnv = env;
  }
  return { args: ['--isolation', 'docker'], env: dockerEnv };
}

export const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  SANDBOX_MCP_LOG_LEVEL: 'warn',
  // Every result the suite receives is also checked against its output schema by the server itself.
  SANDBOX_MCP_CHECK_OUTPUT: '1',
});

/**
 * The options every suite server gets: its data dir, a bare pool of one (a preloading refill costs CPU the tests
 * need; preload.test.ts asks for it), the backend under test, then the test's own.
 */
export function suiteArgs(dataDir: string, opts: StartOptions = {}): string[] {
  return [
    '--data-dir',
    dataDir,
    '--pool-size',
    '1',
    '--preload',
    'none',
    ...backend().args,
    ...(opts.args ?? []),
  ];
}

export async function startStdio(opts: StartOptions = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? freshDataDir();
  const serverArgv = [CLI, ...suiteArgs(dataDir, opts)];
  const command = opts.runAs ? '/usr/bin/setpriv' : process.execPath;
  const args = opts.runAs
    ? [
        `--reuid=${opts.runAs.uid}`,
        `--regid=${opts.runAs.gid}`,
        opts.runAs.groups?.length ? `--groups=${opts.runAs.groups.join(',')}` : '--clear-groups',
        '--',
        process.execPath,
        ...serverArgv,
      ]
    : serverArgv;
  const transport = new StdioClientTransport({
    command: opts.wrapper?.[0] ?? command,
    args: opts.wrapper ? [...opts.wrapper.slice(1), command, ...args] : args,
    env: { ...baseEnv(), ...backend().env, ...opts.env },
    stderr: 'pipe',
  });
  const client = newClient(opts.era);
  await client.connect(transport);
  return wrap(client, dataDir, async () => {
    await client.close();
  });
}

export async function startHttpProcess(opts: StartOptions & { token?: string } = {}): Promise<{
  child: ChildProcess;
  url: string;
  token: string;
  dataDir: string;
  stop: () => Promise<void>;
}> {
  const dataDir = opts.dataDir ?? freshDataDir();
  const token = opts.token ?? 'test-token-' + Math.random().toString(36).slice(2) + 'abcdefgh';
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--token', token, ...suiteArgs(dataDir, opts)],
    { env: { ...baseEnv(), ...backend().env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`server did not start: ${buf}`)), 20_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      buf += d;
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited ${code}: ${buf}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return { child, url, token, dataDir, stop };
}

/** An SDK client connected over HTTP with one bearer token (each token is its own owner). */
export async function connectHttp(url: string, token: string, era?: StartOptions['era']): Promise<Client> {
  const client = newClient(era);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

export async function startHttp(opts: StartOptions & { token?: string } = {}): Promise<Harness> {
  const proc = await startHttpProcess(opts);
  const client = await connectHttp(proc.url, proc.token, opts.era);
  return wrap(
    client,
    proc.dataDir,
    async () => {
      await client.close().catch(() => undefined);
      await proc.stop();
    },
    { url: proc.url, token: proc.token, child: proc.child },
  );
}

export function start(kind: TransportKind, opts: StartOptions = {}): Promise<Harness> {
  return kind === 'stdio' ? startStdio(opts) : startHttp(opts);
}
