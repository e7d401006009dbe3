// A web app's connection through tunnel_pipe.py without an engine (the script run by the system's Python over pipes, as
// an exec runs it): waiting for a socket not made yet, giving up on output nobody reads, a readiness probe that ends at
// its deadline through a connection with no timers of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { httpGet, ReadyTimeoutError, waitForHttp } from '../../src/webapps/readiness.js';
import { until } from '../e2e/until.js';

const PIPE = resolve(import.meta.dirname, '../../src/agent/tunnel_pipe.py');
const dir = mkdtempSync(join(tmpdir(), 'sbx-app-tunnel-'));
const children: ChildProcess[] = [];
const servers: net.Server[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function runPipe(socketPath: string): ChildProcess {
  const env = { ...process.env };
  delete env.SANDBOX_SECCOMP_BPF;
  const py = spawn('/usr/bin/python3', ['-I', '-S', PIPE, socketPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  py.stdin!.on('error', () => undefined);
  children.push(py);
  return py;
}

/** Whether the process sleeps between connect tries: its first try failed (before that, Python never sleeps). */
function sleepingBetweenTries(py: ChildProcess): boolean {
  try {
    return readFileSync(`/proc/${py.pid}/wchan`, 'utf8').includes('nanosleep');
  } catch {
    return false;
  }
}

function exited(py: ChildProcess): Promise<number | null> {
  return py.exitCode !== null ? Promise.resolve(py.exitCode) : new Promise((r) => py.once('exit', r));
}

/** An app on a Unix socket: each accepted connection is handed to onConnection; it writes on after the peer's end. */
async function unixApp(path: string, onConnection: (c: net.Socket) => void): Promise<net.Server> {
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => undefined);
    onConnection(c);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  return srv;
}

/**
 * The pipe's stdin and stdout as one connection, shaped as the exec stream the relay gets from a Docker box: it keeps
 * no idle timer of its own (setTimeout does nothing), as the exec stream's did.
 */
function pipeConnection(socketPath: string): Duplex {
  const py = runPipe(socketPath);
  const conn = Duplex.from({ readable: py.stdout!, writable: py.stdin! });
  conn.on('close', () => py.kill('SIGKILL'));
  conn.on('error', () => undefined);
  return Object.assign(conn, {
    setTimeout: () => conn,
    setNoDelay: () => conn,
    setKeepAlive: () => conn,
    ref: () => conn,
    unref: () => conn,
  });
}

describe('tunnel_pipe.py', () => {
  it('waits for an app socket made after it started, in the same exec', async () => {
    const path = join(dir, 'late.sock');
    const py = runPipe(path);
    const out: Buffer[] = [];
    py.stdout!.on('data', (d: Buffer) => out.push(d));
    await until(() => sleepingBetweenTries(py), 'the first connect try to fail', 5000, 10);
    await unixApp(path, (c) => c.end('hello from the app'));
    expect(await exited(py)).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('hello from the app');
  }, 20_000);

  it('refuses a socket that never comes, after its connect timeout', async () => {
    const py = runPipe(join(dir, 'never.sock'));
    const err: Buffer[] = [];
    py.stderr!.on('data', (d: Buffer) => err.push(d));
    const t0 = Date.now();
    expect(await exited(py)).toBe(2);
    expect(Date.now() - t0).toBeGreaterThan(4000);
    expect(Buffer.concat(err).toString()).toMatch(/cannot connect/);
  }, 20_000);

  it('ends once the server side is gone and nobody takes the app output', async () => {
    const path = join(dir, 'firehose.sock');
    await unixApp(path, (c) => {
      const chunk = Buffer.alloc(1 << 16, 7);
      const pump = () => {
        while (!c.destroyed && c.write(chunk));
        if (!c.destroyed) c.once('drain', pump);
      };
      pump();
    });
    const py = runPipe(path);
    let got = 0;
    py.stdout!.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 1 << 20) py.stdout!.pause(); // the server's reader went away: nothing takes the output any more
    });
    await until(() => got > 1 << 20, 'the app output to flow');
    py.stdin!.end();
    const t0 = Date.now();
    expect(await exited(py)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(40_000);
  }, 60_000);
});

describe('readiness through a connection made another way', () => {
  it('an app that accepts and never answers: the probe and the wait end at their deadlines', async () => {
    const path = join(dir, 'mute.sock');
    await unixApp(path, () => undefined);
    const target = { connect: () => pipeConnection(path) };
    const t0 = Date.now();
    await expect(httpGet(target, 1500)).rejects.toThrow(/timeout|socket hang up/);
    expect(Date.now() - t0).toBeLessThan(5000);
    const t1 = Date.now();
    await expect(waitForHttp(target, 2000, new Promise(() => undefined))).rejects.toBeInstanceOf(
      ReadyTimeoutError,
    );
    expect(Date.now() - t1).toBeLessThan(6000);
  }, 30_000);
});
