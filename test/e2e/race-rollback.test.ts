// The attack: a box process whose working folder lies inside the tree a rollback moves out swaps a folder with a
// symlink to a host folder while the old tree is deleted; the host folder must survive every try.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { raceSession, startSwapper, stopSwappers, tryUntilCanaryChanges } from './race-swapper.js';
import { until } from './until.js';

const TRIES = 60;

describe('rollback_to_backup against a swapping box process inside the old tree', () => {
  const race = raceSession({ 'keep1.txt': 'one', 'sub/keep2.txt': 'two', 'sub/deeper/keep3.txt': 'three' });

  it('never deletes outside the data dir', async () => {
    const { h, sid, canary } = race;
    const trash = join(h.dataDir, 'trash');
    await h.sc('execute', { session_id: sid, code: "open('kept.txt','w').write('kept')" });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'base' });
    const { changed, done: rolledBack } = await tryUntilCanaryChanges(canary, TRIES, async () => {
      await h.sc('execute', {
        session_id: sid,
        code:
          "import os\nos.makedirs('t/deep/a/b/c', exist_ok=True)\n" +
          "for n in range(20): open(f't/deep/a/f{n}.txt','w').write('x')\n" +
          "open('t/deep/a/b/c/g.txt','w').write('y')\n" +
          `if not os.path.islink('t/deep/l'): os.symlink(${JSON.stringify(canary.dir)}, 't/deep/l')`,
      });
      await startSwapper(h, sid, { cwd: '/workspace/t/deep', folder: 'a', link: 'l', seconds: 30 });
      const r = await h.call('rollback_to_backup', { session_id: sid, backup_name: 'base' });
      // the old tree is deleted after the answer: the canary is judged once the trash is empty
      await until(
        () => !existsSync(trash) || readdirSync(trash).length === 0,
        'the trash to be emptied',
        30_000,
      );
      await stopSwappers(h, sid);
      return r.isError ? 0 : 1;
    });
    expect(changed).toBeNull();
    expect(rolledBack).toBeGreaterThan(0);
  }, 600_000);
});
