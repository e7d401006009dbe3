// The attack: while cleanup_artifacts deletes files, a box process swaps their folder with a symlink to a host folder
// holding a file of the same name; the host file must survive every try.
import { describe, expect, it } from 'vitest';
import { raceSession, startSwapper, stopSwappers, tryUntilCanaryChanges } from './race-swapper.js';

const TRIES = 200;

describe('cleanup_artifacts against a swapping box process', () => {
  const race = raceSession({ 'victim.txt': 'host file', 'keep.txt': 'host file too' });

  it('never deletes outside the workspace', async () => {
    const { h, sid, canary } = race;
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
    const { changed, done: removed } = await tryUntilCanaryChanges(canary, TRIES, async () => {
      const r = await h.call('cleanup_artifacts', { session_id: sid });
      return r.isError ? 0 : (r.structuredContent as { removed_count: number }).removed_count;
    });
    await stopSwappers(h, sid);
    expect(changed).toBeNull();
    expect(removed).toBeGreaterThan(0);
  }, 600_000);
});
