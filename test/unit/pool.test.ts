// The warm pool's bookkeeping: close() waits for starts under way and discards what they made, so no box or
// session folder outlives the server.
import { describe, expect, it } from 'vitest';
import { WarmPool } from '../../src/sessions/pool.js';
import type { Box } from '../../src/sandbox/box.js';

function fakeBox(log: string[], id: string): Box {
  return {
    alive: true,
    close: async () => void log.push(`close ${id}`),
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
    await new Promise((r) => setTimeout(r, 20));
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
});
