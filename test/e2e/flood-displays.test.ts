// The attack as it was found: a cell that sends 60 displays of 30 MB each (display(raw=True), a public API). The
// server once kept them all while the call ran and serialized them into the history row, until its heap ran out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import { connectHttp } from './harness.js';
import { httpServerFixture } from './http-server-fixture.js';
import { watchRss } from './server-rss.js';

const MB = 1024 * 1024;
/** 60 × 30 MB = 1.8 GB sent; a server that keeps a bounded part grows by a few line buffers at most. */
const DISPLAYS = 60;
const GROWTH_BOUND = 600 * MB;

const FLOOD =
  `s = 'x' * (30 * 1024 * 1024)\n` +
  `for i in range(${DISPLAYS}):\n` +
  `    display({'text/plain': s}, raw=True)\n` +
  `print('sent', ${DISPLAYS})`;

describe('a display flood', () => {
  const fx = httpServerFixture();
  let attacker: Client;
  let other: Client;
  afterAll(async () => {
    await attacker?.close().catch(() => undefined);
    await other?.close().catch(() => undefined);
  });
  beforeAll(async () => {
    attacker = await connectHttp(fx.proc.url, fx.proc.token);
    other = await connectHttp(fx.proc.url, fx.proc.token);
  });

  it('ends with a bounded, structured result and leaves the server and other sessions working', async () => {
    const sc = async (c: Client, name: string, args: Record<string, unknown>) =>
      (await c.callTool({ name, arguments: args }, { timeout: 120_000 })).structuredContent as Record<
        string,
        any
      >;
    const a = (await sc(attacker, 'create_session', {})).session_id as string;
    const b = (await sc(other, 'create_session', {})).session_id as string;
    await sc(other, 'execute', { session_id: b, code: '1' }); // its box is up before the flood starts

    const rss = watchRss(fx.proc.child.pid!);
    const t0 = Date.now();
    const flood = sc(attacker, 'execute', { session_id: a, code: FLOOD, timeout: 50 });
    let floodDone = false;
    void flood.finally(() => (floodDone = true)).catch(() => undefined);
    // The other session is answered while the flood runs, each call within a bound.
    const during: number[] = [];
    while (!floodDone && Date.now() - t0 < 90_000) {
      const s0 = Date.now();
      const r = await sc(other, 'execute', { session_id: b, code: 'print(6 * 7)' });
      expect(r.stdout).toBe('42\n');
      during.push(Date.now() - s0);
      await new Promise((wake) => setTimeout(wake, 200));
    }
    const r = await flood;
    const { growth, died } = rss.stop();

    expect(died).toBe(false);
    expect(growth).toBeLessThan(GROWTH_BOUND);
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe(`sent ${DISPLAYS}\n`);
    // What it kept is bounded and says so: each value a head marked with its real size, and a notice.
    expect(r.displays.length).toBeGreaterThan(0);
    expect(r.displays.length).toBeLessThanOrEqual(100);
    expect(String(r.displays[0]['text/plain'])).toMatch(/\[cut: this text\/plain value is 31457280 bytes/);
    expect(r.notices.join('\n')).toMatch(/bytes a call keeps of them: \d+ text value\(s\) were cut/);
    for (const d of r.displays) expect(Object.keys(d).length).toBeGreaterThan(0);
    expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(4 * MB);
    expect(during.length).toBeGreaterThan(0);
    for (const ms of during) expect(ms).toBeLessThan(15_000);

    // The history holds a bounded row for it, and both sessions still work.
    const after = await sc(other, 'execute', { session_id: b, code: 'print(6 * 7)' });
    expect(after.stdout).toBe('42\n');
    const again = await sc(attacker, 'execute', { session_id: a, code: 'print(len(s))' });
    expect(again.stdout).toBe(`${30 * MB}\n`);
  }, 180_000);
});
