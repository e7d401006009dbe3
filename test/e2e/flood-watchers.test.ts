// The attack as it was found: a client with a token fills a session's history with large outputs, then opens
// hundreds of live-view streams (/status/events) and never reads them. Each stream was sent a whole snapshot the
// server kept buffered, until the server ran out of memory and stopped answering.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { httpServerFixture } from './http-server-fixture.js';
import { watchRss } from './server-rss.js';

const MB = 1024 * 1024;
const STREAMS = 300;
/** 300 unread snapshots of ~7.7 MB each took 2.3 GB; a bounded live view holds a few of them at most. */
const GROWTH_BOUND = 600 * MB;
const CALL_BOUND_MS = 5_000;

describe('unread live-view streams', () => {
  const fx = httpServerFixture();
  const sockets: net.Socket[] = [];
  afterAll(() => {
    for (const s of sockets) s.destroy();
  });

  it('hold bounded memory, and the server keeps answering', async () => {
    const client = await fx.connectV1('watchers');
    const sc = async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })).structuredContent as Record<string, any>;
    const sid = (await sc('create_session', {})).session_id as string;
    for (let i = 0; i < 31; i++)
      await sc('execute', { session_id: sid, code: `display({'text/plain': 'y' * 250000}, raw=True)` });

    const { port } = new URL(fx.proc.url);
    const rss = watchRss(fx.proc.child.pid!);
    for (let i = 0; i < STREAMS; i++) {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => undefined);
      s.write(
        `GET /status/events?session=${sid} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          `Authorization: ${fx.auth().Authorization}\r\n\r\n`,
      );
      s.pause(); // never read
      sockets.push(s);
      if (i % 50 === 49) await new Promise((wake) => setTimeout(wake, 500));
    }
    await new Promise((wake) => setTimeout(wake, 3000));
    const t0 = Date.now();
    const r = await sc('execute', { session_id: sid, code: 'print(6 * 7)' });
    const callMs = Date.now() - t0;
    const { growth, died } = rss.stop();

    expect(died).toBe(false);
    expect(r.stdout).toBe('42\n');
    expect(callMs).toBeLessThan(CALL_BOUND_MS);
    expect(growth).toBeLessThan(GROWTH_BOUND);
  }, 180_000);
});
