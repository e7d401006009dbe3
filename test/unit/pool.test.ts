// The warm pool's bookkeeping: close() waits for starts under way and discards what they made, so no box or
// session folder outlives the server; a hand-out raises the box to the normal CPU share and refills a moment later.
import { describe, expect, it, vi } from 'vitest';
import { REFILL_DELAY_MS, WarmPool } from '../../src/sessions/pool.js';
import type { Box } from '../../src/sandbox/box.js';

function fakeBox(log: string[], id: string): Box {
  return {
    alive: true,
    close: async () => void log.push(`close ${id}`),
    foreground: () => void log.push(`foreground ${id}`),
  } as unknown as Box;
}

describe('WarmPool', () => {
  it('closes and discards a box whose start was still under way at close()', async () => {
    const log: string[] = [];
    let finish: (() => void) | undefined;
    const pool = new WarmPool(
      1,
      (_id) =>
        new Promise<Box>((resolve) => {
          log.push('start');
          finish = () => resolve(fakeBox(log, 'late'));
        }),
      async (id) => void log.push(`discard ${id.slice(0, 2)}`),
      (err) => log.push(`error ${String(err)}`),
    );
    pool.fill();
    const closing = pool.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((r) => setImmediate(r)); // every promise job that could settle close() has run by now
    expect(closed).toBe(false); // still waiting for the start
    finish!();
    await closing;
    expect(log).toEqual(['start', 'close late', 'discard s_']);
    pool.fill(); // a closed pool starts nothing
    expect(log).toHaveLength(3);
  });

  it('discards the folder of a start that failed, and reports the failure', async () => {
    const log: string[] = [];
    const pool = new WarmPool(
      1,
      async () => {
        throw new Error('no bwrap');
      },
      async (id) => void log.push(`discard ${id.slice(0, 2)}`),
      (err) => log.push(`error ${(err as Error).message}`),
    );
    pool.fill();
    await pool.close();
    expect(log).toEqual(['error no bwrap', 'discard s_']);
  });

  it('hands a box out at the normal CPU share and starts the refill only after REFILL_DELAY_MS', async () => {
    vi.useFakeTimers();
    try {
      const log: string[] = [];
      let n = 0;
      const pool = new WarmPool(
        1,
        async () => {
          log.push('start');
          return fakeBox(log, `b${++n}`);
        },
        async (id) => void log.push(`discard ${id.slice(0, 2)}`),
        (err) => log.push(`error ${String(err)}`),
      );
      pool.fill();
      await vi.advanceTimersByTimeAsync(0);
      expect(pool.take()?.box).toBeDefined();
      // The box start's work in the server (folders, cgroup, spawn) is not done in front of the hand-out's answer.
      expect(log).toEqual(['start', 'foreground b1']);
      await vi.advanceTimersByTimeAsync(REFILL_DELAY_MS - 1);
      expect(log).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(log).toEqual(['start', 'foreground b1', 'start']);
      // A pool closed before its refill was due starts nothing more.
      await vi.advanceTimersByTimeAsync(0);
      pool.take();
      await pool.close();
      await vi.advanceTimersByTimeAsync(REFILL_DELAY_MS * 2);
      expect(log.filter((l) => l === 'start')).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
