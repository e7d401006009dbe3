// tunnel_pipe.py keeps an app's reply when the app closes before taking the whole request (a 413 sent early).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const PIPE = resolve(import.meta.dirname, '../../src/agent/tunnel_pipe.py');
const dir = mkdtempSync(join(tmpdir(), 'sbx-pipe-reply-'));
const servers: net.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

it('an app that replies and closes while the request body is still coming: the whole reply reaches the pipe output', async () => {
  const path = join(dir, 'early.sock');
  // Larger than the output pipe holds, so part of it still waits in the socket when the app is gone.
  const body = Buffer.alloc(150_000, 0x7a).toString();
  const reply = `HTTP/1.1 413 Payload Too Large\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  let appClosed!: () => void;
  const closed = new Promise<void>((r) => (appClosed = r));
  const srv = net.createServer((c) => {
    c.on('error', () => undefined);
    c.on('close', appClosed);
    c.once('data', () => {
      c.pause();
      c.end(reply, () => c.destroy());
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  const env = { ...process.env };
  delete env.SANDBOX_SECCOMP_BPF;
  const py = spawn('/usr/bin/python3', ['-I', '-S', PIPE, path], { stdio: ['pipe', 'pipe', 'pipe'], env });
  py.stdin.on('error', () => undefined);
  const code = new Promise<number | null>((r) => py.once('exit', r));
  const chunk = Buffer.alloc(1 << 16, 0x61);
  py.stdin.write('POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 67108864\r\n\r\n');
  let sent = 0;
  const pump = (): void => {
    while (sent < 64 << 20 && py.exitCode === null && !py.stdin.destroyed) {
      sent += chunk.length;
      if (!py.stdin.write(chunk)) return void py.stdin.once('drain', pump);
    }
  };
  pump();
  // The reader of the output takes nothing until the app has gone, then everything.
  await closed;
  await new Promise((r) => setTimeout(r, 300));
  const out: Buffer[] = [];
  py.stdout.on('data', (d: Buffer) => out.push(d));
  expect(await code).toBe(0);
  expect(Buffer.concat(out).toString()).toBe(reply);
}, 30_000);
