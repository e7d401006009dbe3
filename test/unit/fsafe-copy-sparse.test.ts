// copyOut against a sparse file of 1 GiB (4 KiB on disk): it never holds the whole file in memory, never stalls the
// event loop, keeps the holes in the copy, and leaves out what would pass its byte budget.
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/fsafe/byte-budget.js';
import { copyOut, sizeOf } from '../../src/fsafe/copy.js';
import { Dir } from '../../src/fsafe/dir.js';

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

let base: string;
let ws: string;

/** A file of `size` bytes whose only data is its last byte, `last`: the rest is a hole. */
function sparse(path: string, size: number, last: string): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size - 1);
    writeSync(fd, last, size - 1);
  } finally {
    closeSync(fd);
  }
}

/** Peak resident memory of this process since the last reset, in bytes (VmHWM). */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

function currentRss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

/** Measures the longest gap between 10 ms timer ticks while `fn` runs. */
async function worstLag<T>(fn: () => Promise<T> | T): Promise<{ value: T; lagMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  try {
    const value = await fn();
    worst = Math.max(worst, performance.now() - last);
    return { value, lagMs: worst };
  } finally {
    clearInterval(timer);
  }
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'fsafe-copy-'));
  ws = join(base, 'ws');
  mkdirSync(join(ws, 'site'), { recursive: true });
  writeFileSync(join(ws, 'site', 'index.html'), '<h1>hi</h1>');
  sparse(join(ws, 'site', 'big.bin'), GIB, 'x');
  sparse(join(ws, 'site', 'mid.bin'), 8 * MIB, 'y');
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('copyOut of a sparse file', () => {
  it('copies 1 GiB in chunks: memory stays flat, the event loop keeps turning, the copy stays sparse', async () => {
    const root = Dir.openPath(ws);
    const dest = join(base, 'big-copy.bin');
    try {
      const before = currentRss();
      writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
      const { value, lagMs } = await worstLag(() => copyOut(root, ['site', 'big.bin'], dest));
      expect(value).toBe(true);
      expect(peakRss() - before).toBeLessThan(64 * MIB);
      expect(lagMs).toBeLessThan(500);
    } finally {
      root.close();
    }
    const st = statSync(dest);
    expect(st.size).toBe(GIB);
    expect(st.blocks * 512).toBeLessThanOrEqual(128 * 1024);
    const fd = openSync(dest, 'r');
    try {
      const b = Buffer.alloc(1);
      const { readSync } = await import('node:fs');
      readSync(fd, b, 0, 1, GIB - 1);
      expect(b.toString()).toBe('x');
    } finally {
      closeSync(fd);
    }
  }, 120_000);

  it('leaves out a file that would pass the byte budget, names it, and copies the rest', async () => {
    const root = Dir.openPath(ws);
    const dest = join(base, 'site-copy');
    const budget = new ByteBudget(50 * MIB);
    const leftOut: Array<{ path: string; size: number }> = [];
    try {
      expect(await sizeOf(root, ['site'])).toBe(GIB + 8 * MIB + 11);
      expect(await sizeOf(root, ['site'], { stopAbove: 50 * MIB })).toBeGreaterThan(50 * MIB);
      const { value, lagMs } = await worstLag(() => copyOut(root, ['site'], dest, { budget, leftOut }));
      expect(value).toBe(true);
      expect(lagMs).toBeLessThan(500);
    } finally {
      root.close();
    }
    expect(leftOut).toEqual([{ path: 'site/big.bin', size: GIB }]);
    expect(readFileSync(join(dest, 'index.html'), 'utf8')).toBe('<h1>hi</h1>');
    const mid = statSync(join(dest, 'mid.bin'));
    expect(mid.size).toBe(8 * MIB);
    expect(mid.blocks * 512).toBeLessThanOrEqual(128 * 1024);
    expect(() => statSync(join(dest, 'big.bin'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(budget.left).toBe(50 * MIB - 8 * MIB - 11);
  }, 120_000);
});
