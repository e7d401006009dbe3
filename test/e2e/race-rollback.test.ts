// The attack: a box process whose working folder lies inside the tree a rollback moves out swaps a folder with a
// symlink to a host folder while the old tree is deleted; the host folder must survive every try.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { installSwapper, makeCanary, startSwapper, stopSwappers, type Canary } from './race-swapper.js';

const TRIES = 60;

async function trashEmptied(dataDir: string): Promise<void> {
  const trash = join(dataDir, 'trash');
  for (let i = 0; i < 200; i++) {
    if (!existsSync(trash) || readdirSync(trash).length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('rollback_to_backup against a swapping box process inside the old tree', () => {
  let h: Harness;
  let sid: string;
  let canary: Canary;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
    canary = makeCanary({ 'keep1.txt': 'one', 'sub/keep2.txt': 'two', 'sub/deeper/keep3.txt': 'three' });
  });
  afterAll(async () => {
    await h?.close();
    canary?.remove();
  });

  it('never deletes outside the data dir', async () => {
    await installSwapper(h, sid);
    await h.sc('execute', { session_id: sid, code: "open('kept.txt','w').write('kept')" });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'base' });
    const before = canary.snapshot();
    let damaged: Record<string, string> | null = null;
    let rolledBack = 0;
    for (let i = 0; i < TRIES && damaged === null; i++) {
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
      if (!r.isError) rolledBack++;
      await trashEmptied(h.dataDir);
      await stopSwappers(h, sid);
      const now = canary.snapshot();
      if (JSON.stringify(now) !== JSON.stringify(before)) damaged = now;
    }
    expect(damaged).toBeNull();
    expect(rolledBack).toBeGreaterThan(0);
  }, 600_000);
});
