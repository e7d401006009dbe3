// read_file while a box process swaps the file's folder with a symlink to /etc (renameat2 RENAME_EXCHANGE): every
// answer is the workspace file or a structured refusal, never a host file, an internal error or a host path.
import { describe, expect, it } from 'vitest';
import { errorOf } from './harness.js';
import { raceSession, startSwapper, stopSwappers } from './race-swapper.js';

const TRIES = 1000;

describe('read_file against a swapping box process', () => {
  const race = raceSession({});

  it('answers the workspace file or a structured refusal', async () => {
    const { h, sid } = race;
    await h.sc('execute', {
      session_id: sid,
      code: "import os\nos.makedirs('d', exist_ok=True)\nopen('d/shadow','w').write('decoy')\nos.symlink('/etc', 'l')",
    });
    await startSwapper(h, sid, { cwd: '/workspace', folder: 'd', link: 'l', seconds: 300 });
    const internal: string[] = [];
    let decoys = 0;
    let refused = 0;
    try {
      for (let i = 0; i < TRIES; i++) {
        const r = await h.call('read_file', { session_id: sid, path: 'd/shadow' });
        const text = JSON.stringify(r);
        expect(text).not.toContain('root:');
        expect(text).not.toContain(h.dataDir);
        expect(text).not.toMatch(/\/proc\/self\/fd/);
        if (!r.isError) {
          expect((r.structuredContent as { text?: string }).text).toBe('decoy');
          decoys++;
          continue;
        }
        const e = errorOf(r);
        refused++;
        if (e.code === 'internal') internal.push(e.message as string);
      }
    } finally {
      await stopSwappers(h, sid);
    }
    expect(internal).toEqual([]);
    expect(decoys).toBeGreaterThan(0);
    // the swap raced the reads: some reads met the link (refused), else the attack was never tried
    expect(refused).toBeGreaterThan(0);
  }, 300_000);
});
