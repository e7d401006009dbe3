// The proxy tunnel's two ends without an engine: tunnel_mux.py run by the system's Python against MuxEnd over pipes,
// carrying real Unix socket connections to a host echo server; MuxEnd ending the tunnel on each forged frame; and a
// stopped tunnel_mux.py whose forged acknowledgements would pile frames toward it without bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeMuxFrame,
  KIND,
  MUX_CHUNK,
  MUX_MAX_CONNECTIONS,
  MUX_MAX_QUEUED,
  MuxEnd,
} from '../../src/sandbox/docker/tunnel-mux.js';
import { until } from '../e2e/until.js';

const SCRIPT = resolve(import.meta.dirname, '../../src/agent/tunnel_mux.py');
let dir: string;
let echo: net.Server;
let hostSocket: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbx-tunnel-'));
  hostSocket = join(dir, 'host.sock');
  // the host proxy's stand-in: echoes every byte, and ends its side once the other side ended
  echo = net.createServer({ allowHalfOpen: true }, (c) => c.on('error', () => undefined).pipe(c));
  await new Promise<void>((r) => echo.listen(hostSocket, r));
});
afterAll(async () => {
  await new Promise<void>((r) => echo.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends data on a connection to the box-side socket, half-closes, and resolves with all that comes back. */
function roundTrip(path: string, data: Buffer): Promise<Buffer> {
  return new Promise((done, fail) => {
    const c = net.connect({ path, allowHalfOpen: true });
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', () => done(Buffer.concat(got)));
    c.on('error', fail);
    c.end(data);
  });
}

describe('tunnel_mux.py with MuxEnd', () => {
  let py: ChildProcess;
  let end: MuxEnd;
  const boxSocket = () => join(dir, 'box', 'proxy.sock');
  let ended: string | null | undefined;

  beforeAll(async () => {
    py = spawn('/usr/bin/python3', ['-I', '-S', SCRIPT, boxSocket()], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((ready) => {
      end = new MuxEnd(
        hostSocket,
        (frame) => {
          py.stdin!.write(frame);
          return py.stdin!.writableLength;
        },
        ready,
        (v) => (ended = v),
      );
      py.stdout!.on('data', (c: Buffer) => end.push(c));
    });
  });
  afterAll(() => {
    end.close();
    py.kill();
  });

  it('carries many concurrent connections, each larger than the window, both ways with half-close', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => randomBytes(300_000 + i * 50_000));
    const back = await Promise.all(bodies.map((b) => roundTrip(boxSocket(), b)));
    expect(back.map((b) => b.length)).toEqual(bodies.map((b) => b.length));
    expect(back.map(sha)).toEqual(bodies.map(sha));
    expect(ended).toBeUndefined();
  }, 60_000);
});

describe('MuxEnd against forged frames', () => {
  /** A ready tunnel; resolves with why it ended after the frames. */
  function feed(...frames: Buffer[]): { reason: () => string | null | undefined; end: MuxEnd } {
    let reason: string | null | undefined;
    const end = new MuxEnd(
      hostSocket,
      () => 0,
      () => undefined,
      (v) => (reason = v),
    );
    end.push(encodeMuxFrame(KIND.ready, 0));
    for (const f of frames) end.push(f);
    return { reason: () => reason, end };
  }
  const header = (kind: number, id: number, size: number) => {
    const b = Buffer.alloc(9);
    b.writeUInt8(kind, 0);
    b.writeUInt32BE(id, 1);
    b.writeUInt32BE(size, 5);
    return b;
  };

  it('ends on an unknown kind, a wrong size, a second ready or a frame before ready', () => {
    expect(feed(header(9, 1, 0)).reason()).toMatch(/unknown kind 9/);
    expect(feed(header(KIND.data, 1, 0x7fffffff)).reason()).toMatch(/with 2147483647 bytes/);
    expect(feed(header(KIND.open, 1, 3)).reason()).toMatch(/kind 1 with 3 bytes/);
    expect(feed(encodeMuxFrame(KIND.ready, 0)).reason()).toMatch(/second ready/);
    let early: string | null | undefined;
    new MuxEnd(
      hostSocket,
      () => 0,
      () => undefined,
      (v) => (early = v),
    ).push(encodeMuxFrame(KIND.open, 1));
    expect(early).toMatch(/before the tunnel was ready/);
  });

  it('ends on ids out of order, frames for connections never opened, and past the connection cap', () => {
    expect(feed(encodeMuxFrame(KIND.open, 2)).reason()).toMatch(/out of order/);
    expect(feed(encodeMuxFrame(KIND.data, 5, Buffer.from('x'))).reason()).toMatch(/never opened/);
    const opens = Array.from({ length: MUX_MAX_CONNECTIONS + 1 }, (_, i) => encodeMuxFrame(KIND.open, i + 1));
    const capped = feed(...opens);
    expect(capped.reason()).toMatch(/more than 64 connections/);
    expect(capped.end.connections).toBe(0);
  });

  it('lets a box at the cap open a connection in the same turn as it ends one both sides ended', async () => {
    // a host side that answers and ends its side at once
    const quick = net.createServer({ allowHalfOpen: true }, (c) => c.on('error', () => undefined).end('bye'));
    const quickSocket = join(dir, 'quick.sock');
    await new Promise<void>((r) => quick.listen(quickSocket, r));
    const hostEnded = new Set<number>();
    let reason: string | null | undefined;
    const end = new MuxEnd(
      quickSocket,
      (frame) => {
        if (frame.readUInt8(0) === KIND.eof) hostEnded.add(frame.readUInt32BE(1));
        return 0;
      },
      () => undefined,
      (v) => (reason = v),
    );
    end.push(encodeMuxFrame(KIND.ready, 0));
    for (let id = 1; id <= MUX_MAX_CONNECTIONS; id++) end.push(encodeMuxFrame(KIND.open, id));
    await until(() => hostEnded.size === MUX_MAX_CONNECTIONS, 'every host side to end');
    // the box ends connection 1 (now ended both ways), forgets it and opens another, all in one chunk
    end.push(
      Buffer.concat([encodeMuxFrame(KIND.eof, 1), encodeMuxFrame(KIND.open, MUX_MAX_CONNECTIONS + 1)]),
    );
    expect(reason).toBeUndefined();
    // still 64 live: one more is past the cap
    end.push(encodeMuxFrame(KIND.open, MUX_MAX_CONNECTIONS + 2));
    expect(reason).toMatch(/more than 64 connections/);
    await new Promise<void>((r) => quick.close(() => r()));
  }, 20_000);

  it('ends on data past the window, data after the end, and acknowledgements of bytes never sent', () => {
    const chunk = Buffer.alloc(MUX_CHUNK);
    const flood = feed(encodeMuxFrame(KIND.open, 1), ...Array(5).fill(encodeMuxFrame(KIND.data, 1, chunk)));
    expect(flood.reason()).toMatch(/past its window/);
    const afterEnd = feed(
      encodeMuxFrame(KIND.open, 1),
      encodeMuxFrame(KIND.eof, 1),
      encodeMuxFrame(KIND.data, 1, Buffer.from('x')),
    );
    expect(afterEnd.reason()).toMatch(/after its end/);
    const ack = Buffer.alloc(4);
    ack.writeUInt32BE(10, 0);
    expect(feed(encodeMuxFrame(KIND.open, 1), encodeMuxFrame(KIND.ack, 1, ack)).reason()).toMatch(
      /acknowledged more/,
    );
  });

  it('ends on an acknowledgement of no bytes', () => {
    const zero = feed(encodeMuxFrame(KIND.open, 1), encodeMuxFrame(KIND.ack, 1, uint32(0)));
    expect(zero.reason()).toMatch(/empty acknowledgement on connection 1/);
    expect(zero.end.connections).toBe(0);
  });

  it('acknowledges many small data frames of one turn with a few frames, every byte counted', async () => {
    const sent: Buffer[] = [];
    let reason: string | null | undefined;
    const end = new MuxEnd(
      hostSocket,
      (frame) => {
        sent.push(frame);
        return 0;
      },
      () => undefined,
      (v) => (reason = v),
    );
    end.push(encodeMuxFrame(KIND.ready, 0));
    end.push(encodeMuxFrame(KIND.open, 1));
    end.push(
      Buffer.concat(Array.from({ length: 2000 }, () => encodeMuxFrame(KIND.data, 1, Buffer.from('x')))),
    );
    const acks = () => sent.filter((f) => f[0] === KIND.ack);
    await until(() => acks().reduce((n, f) => n + f.readUInt32BE(9), 0) === 2000, 'every byte acknowledged');
    expect(acks().length).toBeLessThan(50);
    expect(reason).toBeUndefined();
    end.close();
  });

  it('passes frames split at any byte, and a close here ends it without a violation', () => {
    const { reason, end } = feed();
    const bytes = Buffer.concat([
      encodeMuxFrame(KIND.open, 1),
      encodeMuxFrame(KIND.data, 1, Buffer.from('hi')),
    ]);
    for (const b of bytes) end.push(Buffer.from([b]));
    expect(end.connections).toBe(1);
    expect(reason()).toBeUndefined();
    end.close();
    expect(reason()).toBeNull();
    expect(end.connections).toBe(0);
  });
});

describe('a box that stops reading its tunnel', () => {
  let firehose: net.Server;
  const firehoseSocket = () => join(dir, 'firehose.sock');
  beforeAll(async () => {
    // a host proxy's stand-in that sends as fast as it is read
    firehose = net.createServer((c) => {
      const chunk = Buffer.alloc(MUX_CHUNK, 1);
      const pump = () => {
        while (!c.destroyed && c.write(chunk));
        if (!c.destroyed) c.once('drain', pump);
      };
      c.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((r) => firehose.listen(firehoseSocket(), r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => firehose.close(() => r()));
  });

  it('ends the tunnel once its unread frames pass the bound, while forged acknowledgements ask for more', async () => {
    // tunnel_mux.py stopped (SIGSTOP by code of the same uid): nothing reads the exec's input any more; code in the
    // box writes frames into the exec's output itself, acknowledging every byte the host sends
    const py = spawn('/usr/bin/python3', ['-I', '-S', SCRIPT, join(dir, 'stopped', 'proxy.sock')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    py.stdin!.on('error', () => undefined);
    let sentData = 0;
    let most = 0;
    let reason: string | null | undefined;
    const end = await new Promise<MuxEnd>((ready) => {
      const e: MuxEnd = new MuxEnd(
        firehoseSocket(),
        (frame) => {
          py.stdin!.write(frame);
          if (frame[0] === KIND.data) sentData += frame.readUInt32BE(5);
          most = Math.max(most, py.stdin!.writableLength);
          return py.stdin!.writableLength;
        },
        () => ready(e),
        (v) => (reason = v),
      );
      py.stdout!.once('data', (c: Buffer) => e.push(c));
    });
    py.kill('SIGSTOP');
    try {
      end.push(encodeMuxFrame(KIND.open, 1));
      let acked = 0;
      await until(
        () => {
          if (sentData > acked) {
            end.push(encodeMuxFrame(KIND.ack, 1, uint32(sentData - acked)));
            acked = sentData;
          }
          return reason !== undefined || most > 4 * MUX_MAX_QUEUED;
        },
        'the tunnel to end or its queue to grow past four times the bound',
        30_000,
        1,
      );
      expect(reason).toMatch(/more than 32 MiB of frames unread/);
      expect(most).toBeLessThan(MUX_MAX_QUEUED + 2 * MUX_CHUNK);
      expect(end.connections).toBe(0);
    } finally {
      py.kill('SIGKILL');
      py.kill('SIGCONT');
    }
  }, 60_000);
});

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
