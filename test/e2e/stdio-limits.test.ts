// The real server on stdio, fed raw bytes: a message over the size limit is answered and the server goes on; the end
// of stdin shuts it down within seconds with every box process gone.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STDIO_MAX_MESSAGE_BYTES } from '../../src/server/stdio-wire.js';
import { instanceContainers } from './docker-container.js';
import { CLI, TEST_BACKEND, backend, startStdio } from './harness.js';
import { until } from './until.js';

const LIMIT = STDIO_MAX_MESSAGE_BYTES;
const big = (n: number) => 'a'.repeat(n);

interface Raw {
  child: ChildProcessWithoutNullStreams;
  dataDir: string;
  send(m: unknown): void;
  /** The first answer with this id, among the lines read so far or as they arrive. */
  answer(id: number | null, after?: number): Promise<Record<string, any>>;
  /** The first line after `after` that satisfies pred, as it arrives; rejects when the server exits first. */
  line(pred: (m: Record<string, any>) => boolean, after?: number): Promise<Record<string, any>>;
  lines: string[];
  exited: Promise<number | null>;
}

const started: Raw[] = [];

async function startRaw(): Promise<Raw> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-test-'));
  const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, '--pool-size', '1', ...backend().args], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      SANDBOX_MCP_LOG_LEVEL: 'warn',
      ...backend().env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => undefined);
  child.stderr.resume();
  const lines: string[] = [];
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line: Raw['line'] = (pred, after = 0) =>
    new Promise((resolve, reject) => {
      const done = () => {
        child.stdout.off('data', check);
        child.off('exit', gone);
      };
      const check = () => {
        const found = lines
          .slice(after)
          .map((l) => JSON.parse(l) as Record<string, any>)
          .find(pred);
        if (found) {
          done();
          resolve(found);
        }
      };
      const gone = (code: number | null) => {
        done();
        reject(new Error(`the server exited (${code})`));
      };
      child.stdout.on('data', check);
      child.on('exit', gone);
      check();
      if (child.exitCode !== null) gone(child.exitCode);
    });
  const raw: Raw = {
    child,
    dataDir,
    lines,
    exited,
    send: (m) => child.stdin.write(`${JSON.stringify(m)}\n`),
    line,
    answer: (id, after = 0) => line((m) => m.id === id && ('result' in m || 'error' in m), after),
  };
  started.push(raw);
  raw.send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  await raw.answer(1);
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return raw;
}

afterEach(() => {
  for (const r of started.splice(0)) {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
    rmSync(r.dataDir, { recursive: true, force: true });
  }
});

/** Every process below pid, each with its start time (so a reused pid is not taken for a survivor). */
function descendants(pid: number): Array<{ pid: number; start: string }> {
  const kids = new Map<number, Array<{ pid: number; start: string }>>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(f[1]);
    const list = kids.get(ppid) ?? [];
    list.push({ pid: Number(name), start: f[19] ?? '' });
    kids.set(ppid, list);
  }
  const out: Array<{ pid: number; start: string }> = [];
  const walk = (p: number) => {
    for (const k of kids.get(p) ?? []) {
      out.push(k);
      walk(k.pid);
    }
  };
  walk(pid);
  return out;
}

/** Those of procs still running: a zombie waiting for init to reap it runs nothing and holds nothing. */
function stillAlive(procs: Array<{ pid: number; start: string }>): number[] {
  return procs.flatMap(({ pid, start }) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return f[19] === start && f[0] !== 'Z' && f[0] !== 'X' ? [pid] : [];
    } catch {
      return [];
    }
  });
}

/** Processes whose command line names the data dir (bwrap binds the session's folders by path). */
function namingDir(dir: string): number[] {
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      return readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir) ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

/** What runs a server's boxes: processes naming its data dir; on Docker, the containers of its instance. */
function boxesOf(dataDir: string): Array<number | string> {
  return TEST_BACKEND === 'docker' ? instanceContainers(dataDir) : namingDir(dataDir);
}

/** Box processes are reaped just after the server's exit: none of them, nor any box of the data dir, within 2 s. */
async function expectGone(boxes: Parameters<typeof stillAlive>[0], dataDir: string): Promise<void> {
  await until(
    () => stillAlive(boxes).length === 0 && boxesOf(dataDir).length === 0,
    'the box processes to be gone',
    2000,
    20,
  ).catch(() => undefined);
  expect(stillAlive(boxes)).toEqual([]);
  expect(boxesOf(dataDir)).toEqual([]);
}

async function exitsWithin(raw: Raw, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  const code = await Promise.race([raw.exited, late]);
  clearTimeout(timer);
  return code;
}

describe('stdio limits', () => {
  it('answers a message over the limit with -32600 naming the limit, then answers the next request', async () => {
    const raw = await startRaw();
    // The SDK clients write the id last; the oversized request must still get its own error.
    raw.child.stdin.write(
      `{"method":"tools/call","params":{"name":"execute","arguments":{"code":"${big(LIMIT + 1024 * 1024)}"}},"jsonrpc":"2.0","id":7}\n`,
    );
    const over = await raw.answer(7);
    expect(over.error.code).toBe(-32600);
    expect(over.error.message).toContain(String(LIMIT));
    expect(over.error.data).toMatchObject({ limit_bytes: LIMIT });

    // An oversized line whose id cannot be read, and a line that is not JSON: answered with a null id.
    const before = raw.lines.length;
    raw.child.stdin.write(`${big(LIMIT + 1)}\n`);
    raw.child.stdin.write('{"jsonrpc": "2.0", "id": \n');
    raw.send({ jsonrpc: '2.0', id: 8, method: 'tools/list' });
    const list = await raw.answer(8);
    expect(list.result.tools.length).toBeGreaterThan(0);
    const nulls = raw.lines
      .slice(before)
      .map((l) => JSON.parse(l))
      .filter((m) => m.id === null);
    expect(nulls.map((m) => m.error.code).sort((a, b) => a - b)).toEqual([-32700, -32600]);

    raw.send({
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: 'execute', arguments: { code: '6*7' } },
    });
    const exec = await raw.answer(9);
    expect(exec.result.structuredContent.result['text/plain']).toBe('42');
  });

  it('rejects an SDK client call over the limit at once, and the connection goes on', async () => {
    const h = await startStdio();
    try {
      const t0 = performance.now();
      const err = await h
        .call('write_file', { path: 'big.txt', content: big(LIMIT) })
        .catch((e: unknown) => e);
      expect(performance.now() - t0).toBeLessThan(10_000);
      expect(err).toMatchObject({ code: -32600 });
      expect(String((err as Error).message)).toContain(String(LIMIT));
      const ok = await h.sc('execute', { code: 'print("still here")' });
      expect(ok.stdout).toBe('still here\n');
    } finally {
      await h.close();
    }
  });

  for (const [what, running] of [
    ['after a call ended', false],
    ['while a call runs', true],
  ] as const) {
    it(`shuts down within seconds when stdin ends ${what}, leaving no box process`, async () => {
      const raw = await startRaw();
      raw.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        // A running cell's output comes back as progress once it has run a second: it is surely running then.
        params: running
          ? {
              name: 'execute',
              arguments: { code: 'import time\nwhile True:\n    print(1, flush=True)\n    time.sleep(0.1)' },
              _meta: { progressToken: 'running' },
            }
          : { name: 'execute', arguments: { code: 'print(1)' } },
      });
      if (running) await raw.line((m) => m.method === 'notifications/progress');
      else await raw.answer(2);
      const boxes = descendants(raw.child.pid!);
      expect(boxesOf(raw.dataDir).length).toBeGreaterThan(0);
      raw.child.stdin.end();
      expect(await exitsWithin(raw, 5000)).toBe(0);
      await expectGone(boxes, raw.dataDir);
    });
  }

  it('shuts down when stdin ends after an oversized message', async () => {
    const raw = await startRaw();
    raw.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'execute', arguments: { code: '1' } },
    });
    await raw.answer(2);
    const boxes = descendants(raw.child.pid!);
    raw.child.stdin.write(`{"x":"${big(LIMIT + 1024 * 1024)}"}\n`);
    raw.child.stdin.end();
    expect(await exitsWithin(raw, 5000)).toBe(0);
    await expectGone(boxes, raw.dataDir);
  });
});
