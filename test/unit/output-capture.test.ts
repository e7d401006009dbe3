// OutputCapture: head and tail kept, events capped, split characters, and the saved file of a stream past its cap.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputCapture } from '../../src/sandbox/output-capture.js';

let ws: string;
beforeEach(() => {
  ws = mkdtempSync(join(tmpdir(), 'capture-'));
});
afterEach(() => {
  rmSync(ws, { recursive: true, force: true });
});

describe('OutputCapture', () => {
  it('keeps short output whole, unsaved', async () => {
    const c = new OutputCapture('stdout', 16, 1 << 20);
    c.feed(Buffer.from('hello '));
    c.feed(Buffer.from('world'));
    expect(c.takeEvents()).toBe('hello world');
    expect(c.takeEvents()).toBe('');
    expect(await c.result(ws, '1')).toEqual({
      text: 'hello world',
      truncated: false,
      bytes: 11,
      saved_path: null,
    });
  });

  it('keeps head and tail of long output, caps events, and saves all of it', async () => {
    const c = new OutputCapture('stderr', 10, 1 << 20);
    const all = 'abcdefghijklmnopqrstuvwxyz'.repeat(100);
    for (let i = 0; i < all.length; i += 7) c.feed(Buffer.from(all.slice(i, i + 7)));
    expect(c.takeEvents()).toBe(all.slice(0, 10));
    const r = await c.result(ws, '7');
    expect(r.truncated).toBe(true);
    expect(r.bytes).toBe(all.length);
    expect(r.text).toBe(`${all.slice(0, 5)}\n…[${all.length - 10} bytes omitted]…\n${all.slice(-5)}`);
    expect(r.saved_path).toBe('.sandbox/outputs/7.stderr.txt');
    expect(readFileSync(join(ws, r.saved_path!), 'utf8')).toBe(all);
  });

  it('never splits a character in events, head or tail', async () => {
    const c = new OutputCapture('stdout', 8, 1 << 20);
    const bytes = Buffer.from('ééééééééé'); // 18 bytes
    c.feed(bytes.subarray(0, 3));
    expect(c.takeEvents()).toBe('é'); // the second é is incomplete: held back
    c.feed(bytes.subarray(3));
    expect(c.takeEvents(true)).toBe('ééé');
    const r = await c.result(ws, '2');
    expect(r.text).toBe('éé\n…[10 bytes omitted]…\néé');
  });

  it('saves at most its limit, and nothing through a symlinked folder', async () => {
    const c = new OutputCapture('stdout', 4, 16);
    c.feed(Buffer.from('0123456789'));
    c.feed(Buffer.from('abcdefghij'));
    const r = await c.result(ws, '3');
    expect(r.bytes).toBe(20);
    expect(readFileSync(join(ws, r.saved_path!), 'utf8')).toBe('0123456789abcdef');

    const outside = mkdtempSync(join(tmpdir(), 'capture-out-'));
    try {
      mkdirSync(join(ws, 'x'));
      rmSync(join(ws, '.sandbox'), { recursive: true });
      symlinkSync(outside, join(ws, '.sandbox'));
      const d = new OutputCapture('stdout', 4, 1 << 20);
      d.feed(Buffer.from('0123456789'));
      const r2 = await d.result(ws, '4');
      expect(r2.truncated).toBe(true);
      expect(r2.saved_path).toBeNull();
      expect(() => readFileSync(join(outside, 'outputs', '4.stdout.txt'))).toThrow();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
