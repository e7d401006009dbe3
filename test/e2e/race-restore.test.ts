// The attack: while restore_file runs, a box process swaps the target's folder with a symlink to a host folder; the
// restored file (and its temp file) must land in the workspace, never in the host folder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { installSwapper, makeCanary, startSwapper, stopSwappers, type Canary } from './race-swapper.js';

const TRIES = 200;

describe('restore_file against a swapping box process', () => {
  let h: Harness;
  let sid: string;
  let canary: Canary;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
    canary = makeCanary({ 'keep.txt': 'host file' });
  });
  afterAll(async () => {
    await h?.close();
    canary?.remove();
  });

  it('never writes outside the workspace', async () => {
    await installSwapper(h, sid);
    await h.sc('execute', {
      session_id: sid,
      code: `import os\nos.makedirs('d', exist_ok=True)\nopen('d/f.txt','w').write('from the backup')\nos.symlink(${JSON.stringify(canary.dir)}, 'x')`,
    });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'b' });
    await startSwapper(h, sid, { cwd: '/workspace', folder: 'd', link: 'x', seconds: 300 });
    const before = canary.snapshot();
    let escaped: Record<string, string> | null = null;
    let restored = 0;
    for (let i = 0; i < TRIES && escaped === null; i++) {
      const r = await h.call('restore_file', { session_id: sid, backup_name: 'b', path: 'd/f.txt' });
      if (!r.isError) restored++;
      const now = canary.snapshot();
      if (JSON.stringify(now) !== JSON.stringify(before)) escaped = now;
    }
    await stopSwappers(h, sid);
    expect(escaped).toBeNull();
    expect(restored).toBeGreaterThan(0);
  }, 300_000);
});
