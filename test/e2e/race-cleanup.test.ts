// The attack: while cleanup_artifacts deletes files, a box process swaps their folder with a symlink to a host folder
// holding a file of the same name; the host file must survive every try.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { installSwapper, makeCanary, startSwapper, stopSwappers, type Canary } from './race-swapper.js';

const TRIES = 200;

describe('cleanup_artifacts against a swapping box process', () => {
  let h: Harness;
  let sid: string;
  let canary: Canary;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
    canary = makeCanary({ 'victim.txt': 'host file', 'keep.txt': 'host file too' });
  });
  afterAll(async () => {
    await h?.close();
    canary?.remove();
  });

  it('never deletes outside the workspace', async () => {
    await installSwapper(h, sid);
    await h.sc('execute', {
      session_id: sid,
      code: `import os\nos.makedirs('d', exist_ok=True)\nopen('d/victim.txt','w').write('box file')\nos.symlink(${JSON.stringify(canary.dir)}, 'x')`,
    });
    await startSwapper(h, sid, {
      cwd: '/workspace',
      folder: 'd',
      link: 'x',
      seconds: 300,
      refill: 'victim.txt',
    });
    const before = canary.snapshot();
    let damaged: Record<string, string> | null = null;
    let removed = 0;
    for (let i = 0; i < TRIES && damaged === null; i++) {
      const r = await h.call('cleanup_artifacts', { session_id: sid });
      if (!r.isError) removed += (r.structuredContent as { removed_count: number }).removed_count;
      const now = canary.snapshot();
      if (JSON.stringify(now) !== JSON.stringify(before)) damaged = now;
    }
    await stopSwappers(h, sid);
    expect(damaged).toBeNull();
    expect(removed).toBeGreaterThan(0);
  }, 600_000);
});
