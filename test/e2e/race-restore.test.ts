// The attack: while restore_file runs, a box process swaps the target's folder with a symlink to a host folder; the
// restored file (and its temp file) must land in the workspace, never in the host folder.
import { describe, expect, it } from 'vitest';
import { raceSession, startSwapper, stopSwappers, tryUntilCanaryChanges } from './race-swapper.js';

const TRIES = 200;

describe('restore_file against a swapping box process', () => {
  const race = raceSession({ 'keep.txt': 'host file' });

  it('never writes outside the workspace', async () => {
    const { h, sid, canary } = race;
    await h.sc('execute', {
      session_id: sid,
      code: `import os\nos.makedirs('d', exist_ok=True)\nopen('d/f.txt','w').write('from the backup')\nos.symlink(${JSON.stringify(canary.dir)}, 'x')`,
    });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'b' });
    await startSwapper(h, sid, { cwd: '/workspace', folder: 'd', link: 'x', seconds: 300 });
    const { changed, done: restored } = await tryUntilCanaryChanges(canary, TRIES, async () => {
      const r = await h.call('restore_file', { session_id: sid, backup_name: 'b', path: 'd/f.txt' });
      return r.isError ? 0 : 1;
    });
    await stopSwappers(h, sid);
    expect(changed).toBeNull();
    expect(restored).toBeGreaterThan(0);
  }, 300_000);
});
