// Calls to one session run in the order they arrive, including the calls that create the default session:
// parallel tool calls without session_id sent back to back to a fresh server, over stdio and HTTP.
import { describe, expect, it } from 'vitest';
import { start, type TransportKind } from './harness.js';

/** Each cell needs the one before it: run out of order, a later one fails with NameError. */
const CELLS = ['seen = [0]', 'seen.append(1)', 'seen.append(2)', 'seen.append(3)'];
const ROUNDS = 4;

describe.each<TransportKind>(['stdio', 'http'])('call order over %s', (kind) => {
  it(`runs ${CELLS.length} parallel first calls without session_id in arrival order, ${ROUNDS} fresh servers in a row`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const h = await start(kind);
      try {
        const results = await Promise.all(CELLS.map((code) => h.sc('execute', { code })));
        expect(
          results.map((r) => `${r.status} ${r.error?.code ?? ''}`.trim()),
          `round ${round}`,
        ).toEqual(CELLS.map(() => 'ok'));
        expect(new Set(results.map((r) => r.session_id)).size).toBe(1);
        const seen = await h.sc('execute', { code: 'seen' });
        expect(seen.result?.['text/plain'], `round ${round}`).toBe('[0, 1, 2, 3]');
      } finally {
        await h.close();
      }
    }
  }, 120_000);

  it('keeps arrival order across tools: a shell command, then an execute that needs its file', async () => {
    const h = await start(kind);
    try {
      await h.sc('execute', { code: 'x = 0' });
      for (let round = 0; round < 5; round++) {
        const name = `made-by-shell-${round}.txt`;
        const [shell, exec] = await Promise.all([
          h.call('shell_execute', { command: `sleep 0.2; echo ${round} > ${name}` }),
          h.sc('execute', { code: `print(open('${name}').read().strip())` }),
        ]);
        expect(shell.isError, JSON.stringify(shell.content)).toBeFalsy();
        expect([round, exec.status, (exec.stdout as string).trim()]).toEqual([round, 'ok', String(round)]);
      }
    } finally {
      await h.close();
    }
  }, 120_000);

  it('survives a refused shell command whose queue place is dropped by a close while it waits', async () => {
    const h = await start(kind);
    try {
      const sid = String((await h.sc('create_session', {})).session_id);
      const running = h.call('execute', { session_id: sid, code: 'import time; time.sleep(2)' });
      await new Promise((r) => setTimeout(r, 300));
      // refused by policy: its queue place is released, then the close fails what still waits in the queue
      const refused = h.call('shell_execute', { session_id: sid, command: 'sudo true' });
      await h.call('close_session', { session_id: sid });
      await Promise.allSettled([running, refused]);
      const after = await h.sc('list_sessions', {});
      expect(Array.isArray(after.sessions)).toBe(true);
    } finally {
      await h.close();
    }
  }, 60_000);
});
