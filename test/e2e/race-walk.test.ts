// The attack: while the change tracker walks the workspace after a call, box processes swap folders with symlinks to
// a root-only host folder and to another session's workspace; no host file name may ever come back in a result.
import { describe, expect, it } from 'vitest';
import { raceSession, startSwapper, stopSwappers } from './race-swapper.js';

const TRIES = 150;

/** Names the box made itself: the 40 window folders' files and the decoys of the swapped folders. */
const OWN = /^(b\d+\/f\d+|[dl]\d\/inner\/decoy)$/;

describe('the change tracker against a swapping box process', () => {
  const race = raceSession({ 'deeper/id_rsa_host_only': 'host secret' });

  it('never lists a host folder or another session', async () => {
    const { h, sid, canary } = race;
    const other = (await h.sc('create_session', {})).session_id as string;
    await h.sc('write_file', { session_id: other, path: 'notes/other-session-private.txt', text: 'x' });
    // Many sibling folders widen the window between a folder being seen in its parent and being listed.
    const targets = [canary.dir, `../../${other}/workspace`];
    const setup = await h.sc('execute', {
      session_id: sid,
      code: [
        'import os',
        'for i in range(40):',
        "    os.makedirs(f'b{i}', exist_ok=True)",
        "    for j in range(60): open(f'b{i}/f{j}', 'w').close()",
        `for k, target in enumerate(${JSON.stringify(targets)}):`,
        "    os.makedirs(f'd{k}/inner', exist_ok=True)",
        "    open(f'd{k}/inner/decoy', 'w').close()",
        "    os.symlink(target, f'l{k}')",
      ].join('\n'),
    });
    expect(setup.status).toBe('ok');
    for (let k = 0; k < targets.length; k++) {
      await startSwapper(h, sid, { cwd: '/workspace', folder: `d${k}`, link: `l${k}`, seconds: 600 });
    }
    const foreign = new Set<string>();
    let walked = 0;
    for (let i = 0; i < TRIES && foreign.size === 0; i++) {
      const sc = await h.sc('execute', { session_id: sid, code: 'x = 1' });
      const a = sc.artifacts as {
        created: { path: string }[];
        changed: { path: string }[];
        deleted: string[];
      };
      const paths = [...a.created.map((c) => c.path), ...a.changed.map((c) => c.path), ...a.deleted];
      if (paths.length > 0) walked++;
      for (const p of paths) if (!OWN.test(p)) foreign.add(p);
    }
    await stopSwappers(h, sid);
    expect([...foreign]).toEqual([]);
    // The swaps were seen (decoys come and go), so the walk did run while the folders moved.
    expect(walked).toBeGreaterThan(0);
  }, 900_000);
});
