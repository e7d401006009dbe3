// Pooled boxes import numpy, pandas and matplotlib before they are handed out, leaving the user's namespace, figures
// and rcParams as a bare kernel has them; a session that asks for a bare interpreter, or --preload none, gets one.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKGROUND_CPU_SHARES_V1,
  BACKGROUND_CPU_WEIGHT_V2,
  cpuSupport,
  hostCgroupLayout,
} from '../../src/sandbox/cgroups.js';
import { boxCgroupCandidates, boxCpu } from './box-cgroups.js';
import { startStdio, type Harness } from './harness.js';
import { until } from './until.js';

// The checks bind no names, so the namespace a later cell lists is what the kernel gave it.
const LOADED =
  "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib.pyplot') if m in __import__('sys').modules))";
// What a cell sees of the preload: names, figures and settings. Run after the cell's own pyplot import.
const VISIBLE = `
names = sorted(n for n in globals() if not n.startswith('_'))
import json, os, matplotlib, matplotlib.pyplot as plt
print(json.dumps({
    'names': names,
    'env': sorted(k for k in os.environ if 'PRELOAD' in k),
    'figures': plt.get_fignums(),
    'rc': json.dumps({k: repr(v) for k, v in matplotlib.rcParams.items()}, sort_keys=True),
    'next_figure': plt.figure().number,
}))
plt.close('all')`;

// Seconds since this kernel started (its start time in boot-clock ticks), so a test can tell a box that was waiting
// in the pool (started before create_session was called) from one started for the session.
const KERNEL_AGE = `print(__import__('time').clock_gettime(__import__('time').CLOCK_BOOTTIME)
      - int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]) / __import__('os').sysconf('SC_CLK_TCK'))`;

/**
 * A session on a pooled box, once the pool has filled: each try's box is closed unless its kernel started before the
 * create_session call (then it came from the pool). Returns the session id and what its first cell found loaded.
 */
async function pooledSession(
  h: Harness,
  args: Record<string, unknown> = {},
): Promise<{ id: string; loaded: string; tries: number }> {
  for (let i = 0; i < 120; i++) {
    const t0 = performance.now();
    const s = await h.sc('create_session', args);
    const loaded = await h.sc('execute', { code: LOADED, session_id: s.session_id });
    const age = await h.sc('execute', { code: KERNEL_AGE, session_id: s.session_id });
    expect(loaded.status).toBe('ok');
    if (Number(age.stdout) > (performance.now() - t0) / 1000 + 0.05) {
      return { id: s.session_id as string, loaded: (loaded.stdout as string).trim(), tries: i + 1 };
    }
    await h.sc('close_session', { session_id: s.session_id });
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('no session got a pooled box within a minute');
}

describe('preloaded pool (default --preload scientific)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--preload', 'scientific'] });
  }, 120_000);
  afterAll(() => h?.close());

  it("a pooled session's first cell finds pandas and matplotlib in sys.modules, and none of them in its namespace", async () => {
    const { id, loaded } = await pooledSession(h);
    expect(loaded).toBe("['matplotlib.pyplot', 'numpy', 'pandas']");
    const ns = await h.sc('execute', {
      code: "print('pd' in globals(), 'plt' in globals(), 'np' in globals(), 'pandas' in globals())",
      session_id: id,
    });
    expect(ns.stdout).toBe('False False False False\n');
    const seen = await h.sc('execute', { code: VISIBLE, session_id: id });
    expect(seen.status).toBe('ok');
    const visible = JSON.parse(seen.stdout as string) as Record<string, unknown>;
    expect(visible.names).toEqual([]);
    expect(visible.env).toEqual([]);
    expect(visible.figures).toEqual([]);
    expect(visible.next_figure).toBe(1);

    // The same checks in a bare kernel of the same server: the preload changed no setting a cell can read.
    const bare = (await h.sc('create_session', { preload: false })).session_id as string;
    const bareLoaded = await h.sc('execute', { code: LOADED, session_id: bare });
    expect(bareLoaded.stdout).toBe('[]\n');
    const bareSeen = JSON.parse(
      (await h.sc('execute', { code: VISIBLE, session_id: bare })).stdout as string,
    ) as Record<string, unknown>;
    expect(visible.rc).toBe(bareSeen.rc);
    expect(bareSeen.next_figure).toBe(1);

    // pyplot's show stays captured when the import came from the preload.
    const plot = await h.call('execute', {
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint(plt.get_fignums())',
      session_id: id,
    });
    expect(plot.content.some((c) => c.type === 'image')).toBe(true);
    expect((plot.structuredContent as Record<string, unknown>).stdout).toBe('[]\n');
  }, 180_000);

  it('a kernel restarted in a pooled box (after a kill) starts bare', async () => {
    const { id, loaded } = await pooledSession(h);
    expect(loaded).toBe("['matplotlib.pyplot', 'numpy', 'pandas']");
    const killed = await h.sc('execute', { code: 'import os; os._exit(3)', session_id: id });
    expect(killed.status).toBe('killed');
    const after = await h.sc('execute', { code: LOADED, session_id: id });
    expect(after.stdout).toBe('[]\n');
  }, 180_000);

  it('preload: false never hands out a preloaded box, even when one is ready', async () => {
    // Time a refill of the pool, then give the next one twice as long before asking for bare sessions.
    await pooledSession(h);
    const t0 = performance.now();
    await pooledSession(h);
    await new Promise((r) => setTimeout(r, 2 * (performance.now() - t0) + 2000));
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const s = await h.sc('create_session', { preload: false });
      const loaded = await h.sc('execute', { code: LOADED, session_id: s.session_id });
      const age = await h.sc('execute', { code: KERNEL_AGE, session_id: s.session_id });
      expect(loaded.stdout).toBe('[]\n');
      expect(Number(age.stdout), 'a bare session got the pooled box').toBeLessThan(
        (performance.now() - t) / 1000,
      );
      await h.sc('close_session', { session_id: s.session_id });
    }
    // The preloaded box was waiting all along: the next default session takes it at once.
    const next = await pooledSession(h);
    expect(next.tries).toBe(1);
    expect(next.loaded).toBe("['matplotlib.pyplot', 'numpy', 'pandas']");
  }, 240_000);

  // A pooled box's start and preload run on CPU no session wants (the refill a create_session starts runs beside
  // that session's first plot); the box handed out gets the share every box has.
  it.skipIf(!cpuSupport().enforced)(
    'a box waits in the pool at the lowest CPU share and is handed out at the one every box has',
    async () => {
      const { id } = await pooledSession(h);
      const handedOut = boxCpu(id);
      expect(handedOut.share).toBe(handedOut.expectedShare);
      // The refill that hand-out started: a session folder no session owns, its cgroup made before its box starts.
      const owned = new Set(
        ((await h.sc('list_sessions', {})).sessions as Array<{ session_id: string }>).map(
          (s) => s.session_id,
        ),
      );
      const pooled = await until(
        () =>
          readdirSync(join(h.dataDir, 'sessions')).find(
            (name) => !owned.has(name) && boxCgroupCandidates(name, 'cpu').some((d) => existsSync(d)),
          ),
        'the refill box of the pool',
        60_000,
      );
      const background =
        hostCgroupLayout()?.version === 2 ? BACKGROUND_CPU_WEIGHT_V2 : BACKGROUND_CPU_SHARES_V1;
      expect(boxCpu(pooled).share).toBe(background);
      expect(background).toBeLessThan(handedOut.expectedShare);
    },
    180_000,
  );

  it('refuses a preload option that is not a boolean', async () => {
    const r = await h.call('create_session', { preload: 'scientific' });
    expect(r.isError).toBe(true);
  });
});

describe('--preload none', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--preload', 'none'] });
  }, 120_000);
  afterAll(() => h?.close());

  it('pooled boxes are bare interpreters', async () => {
    expect((await pooledSession(h)).loaded).toBe('[]');
  }, 120_000);
});
