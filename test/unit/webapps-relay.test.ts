// The host side of the relay: TCP on 127.0.0.1 piped to a Unix socket — bytes both ways, half-close, large transfers,
// socket paths too long for sun_path, no following a planted symlink, and a port that is really free after close.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { HostRelay } from '../../src/webapps/host-relay.js';

const root = mkdtempSync(join(tmpdir(), 'webapps-relay-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A Unix server that answers each connection, after the client half-closes, with what it got and a marker. */
function unixServer(path: string): Promise<net.Server> {
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    const chunks: Buffer[] = [];
    c.on('error', () => undefined); // a relay that closes mid-way resets its side
    c.on('data', (d) => chunks.push(d));
    c.on('end', () =>
      c.end(
        Buffer.concat([
          Buffer.from(`got ${Buffer.concat(chunks).length}:`),
          Buffer.concat(chunks).subarray(0, 16),
        ]),
      ),
    );
  });
  return new Promise((res) => srv.listen(path, () => res(srv)));
}

function roundTrip(port: number, payload: Buffer): Promise<string> {
  return new Promise((res, rej) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('end', () => {
      c.end();
      res(Buffer.concat(got).toString());
    });
    c.on('error', rej);
    c.end(payload);
  });
}

function connectError(port: number): Promise<string> {
  return new Promise((res) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('connect', () => {
      c.destroy();
      res('connected');
    });
    c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
  });
}

describe('HostRelay', () => {
  it('pipes bytes both ways and keeps a half-closed connection open for the answer', async () => {
    const sock = join(root, 'a.sock');
    const srv = await unixServer(sock);
    const relay = await HostRelay.listen(sock);
    expect(relay.url).toBe(`http://127.0.0.1:${relay.port}/`);
    expect(await roundTrip(relay.port, Buffer.from('hello relay'))).toBe('got 11:hello relay');
    const big = Buffer.alloc(20 * 1024 * 1024, 7);
    expect(await roundTrip(relay.port, big)).toBe('got 20971520:' + '\u0007'.repeat(16));
    await relay.close();
    srv.close();
  });

  it('reaches a socket whose path is longer than sun_path allows', async () => {
    const deep = join(root, 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(deep, { recursive: true });
    const sock = join(deep, 'app.sock');
    expect(Buffer.byteLength(sock)).toBeGreaterThan(108);
    // The server binds through a relative path; the relay connects through its folder's descriptor.
    const cwd = process.cwd();
    process.chdir(deep);
    const srv = await unixServer('app.sock');
    process.chdir(cwd);
    const relay = await HostRelay.listen(sock);
    expect(await roundTrip(relay.port, Buffer.from('deep'))).toBe('got 4:deep');
    await relay.close();
    srv.close();
  });

  it('frees its port on close, dropping open connections', async () => {
    const sock = join(root, 'b.sock');
    const srv = await unixServer(sock);
    const relay = await HostRelay.listen(sock);
    const port = relay.port;
    const open = net.connect({ port, host: '127.0.0.1' });
    const closed = new Promise((r) => open.on('close', r));
    await new Promise((r) => open.on('connect', r));
    await relay.close();
    await closed;
    expect(await connectError(port)).toBe('ECONNREFUSED');
    const again = await HostRelay.listen(sock, port);
    expect(again.port).toBe(port);
    await expect(HostRelay.listen(sock, port)).rejects.toBeInstanceOf(SandboxError);
    await again.close();
    srv.close();
  });

  it('never follows a symlink planted where the socket should be', async () => {
    // A socket outside the box's folder that the box must not be able to point the host at.
    const outside = join(root, 'host-only.sock');
    const srv = await unixServer(outside);
    const boxDir = join(root, 'box-sockets');
    mkdirSync(boxDir);
    symlinkSync(outside, join(boxDir, 'app.sock'));
    const relay = await HostRelay.listen(join(boxDir, 'app.sock'));
    const outcome = await new Promise<string>((res) => {
      const c = net.connect({ port: relay.port, host: '127.0.0.1' });
      c.on('data', () => res('reached the host socket'));
      c.on('close', () => res('closed'));
      c.on('error', () => undefined);
      c.end('x');
    });
    expect(outcome).toBe('closed');
    await relay.close();
    srv.close();
  });

  it('closes the client connection when nothing listens on the socket', async () => {
    const relay = await HostRelay.listen(join(root, 'missing.sock'));
    const outcome = await new Promise<string>((res) => {
      const c = net.connect({ port: relay.port, host: '127.0.0.1' });
      c.on('data', () => res('data'));
      c.on('close', () => res('closed'));
      c.on('error', () => undefined);
    });
    expect(outcome).toBe('closed');
    await relay.close();
  });
});
