// OutputCapture: head and tail kept, events capped, split characters, and the saved file of a stream past its cap.
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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

const at = (label: string, limitBytes = 1 << 20) => ({ workspace: ws, label, limitBytes });

describe('OutputCapture', () => {
  it('keeps short output whole, unsaved', async () => {
    const c = new OutputCapture('stdout', 16, at('1'));
    c.feed(Buffer.from('hello '));
    c.feed(Buffer.from('world'));
    expect(c.takeEvents()).toBe('hello world');
    expect(c.takeEvents()).toBe('');
    expect(await c.result()).toEqual({
      text: 'hello world',
      truncated: false,
      bytes: 11,
      saved_path: null,
    });
  });

  it('keeps head and tail of long output, caps events, and saves all of it', async () => {
    const c = new OutputCapture('stderr', 10, at('7'));
    const all = 'abcdefghijklmnopqrstuvwxyz'.repeat(100);
    for (let i = 0; i < all.length; i += 7) c.feed(Buffer.from(all.slice(i, i + 7)));
    expect(c.takeEvents()).toBe(all.slice(0, 10));
    const r = await c.result();
    expect(r.truncated).toBe(true);
    expect(r.bytes).toBe(all.length);
    expect(r.text).toBe(`${all.slice(0, 5)}\n…[${all.length - 10} bytes omitted]…\n${all.slice(-5)}`);
    expect(r.saved_path).toBe('.sandbox/outputs/7.stderr.txt');
    expect(readFileSync(join(ws, r.saved_path!), 'utf8')).toBe(all);
  });

  it('never splits a character in events, head or tail', async () => {
    const c = new OutputCapture('stdout', 8, at('2'));
    const bytes = Buffer.from('ééééééééé'); // 18 bytes
    c.feed(bytes.subarray(0, 3));
    expect(c.takeEvents()).toBe('é'); // the second é is incomplete: held back
    c.feed(bytes.subarray(3));
    expect(c.takeEvents(true)).toBe('ééé');
    const r = await c.result();
    expect(r.text).toBe('éé\n…[10 bytes omitted]…\néé');
  });

  it('saves at most its limit, and nothing through a symlinked folder', async () => {
    const c = new OutputCapture('stdout', 4, at('3', 16));
    c.feed(Buffer.from('0123456789'));
    c.feed(Buffer.from('abcdefghij'));
    const r = await c.result();
    expect(r.bytes).toBe(20);
    expect(readFileSync(join(ws, r.saved_path!), 'utf8')).toBe('0123456789abcdef');
    expect(r.save_note).toBe(
      ".sandbox/outputs/3.stdout.txt holds the first 16 bytes of stdout: the box's file-size limit",
    );

    const outside = mkdtempSync(join(tmpdir(), 'capture-out-'));
    try {
      rmSync(join(ws, '.sandbox'), { recursive: true });
      symlinkSync(outside, join(ws, '.sandbox'));
      const d = new OutputCapture('stdout', 4, at('4'));
      d.feed(Buffer.from('0123456789'));
      const r2 = await d.result();
      expect(r2.truncated).toBe(true);
      expect(r2.saved_path).toBeNull();
      expect(r2.save_note).toMatch(/^the whole output could not be saved/);
      expect(() => readFileSync(join(outside, 'outputs', '4.stdout.txt'))).toThrow();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('pauses reading while the saved file falls behind, and resumes once it caught up', async () => {
    const calls: boolean[] = [];
    const c = new OutputCapture('stdout', 16, at('5', 64 << 20), (pause) => calls.push(pause));
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 20; i++) c.feed(chunk); // 20 MiB at once: more than the writes can take in one go
    expect(calls).toEqual([true]);
    const r = await c.result();
    expect(calls).toEqual([true, false]);
    expect(r.bytes).toBe(20 << 20);
    expect(readFileSync(join(ws, r.saved_path!)).length).toBe(20 << 20);
  });

  it('removes its temp file when the request ends without a result', async () => {
    const c = new OutputCapture('stdout', 4, at('6'));
    c.feed(Buffer.from('0123456789'));
    await c.discard();
    expect(readdirSync(join(ws, '.sandbox', 'outputs'))).toEqual([]);
  });
});
