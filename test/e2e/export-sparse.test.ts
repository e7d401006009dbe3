// The attack: a static app's folder holds sparse files of 1 GiB (nothing on the box's disk); export_web_app must not
// turn them into gigabytes on the host nor freeze the server while it copies: files past the export's byte limit
// are left out with a warning, the rest is copied in chunks with its holes kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { GIB, MIB, diskUsage, makeSparse, withProbe } from './sparse-files.js';

describe('export_web_app of a static folder of sparse files', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--tools', 'full'] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('leaves out what passes the limit, keeps holes, and other calls keep answering', async () => {
    const made = await h.sc('execute', {
      code:
        makeSparse({ 'site/big0.bin': GIB, 'site/big1.bin': GIB, 'site/mid.bin': 30 * MIB }) +
        "\nopen('site/index.html', 'w').write('<h1>hi</h1>')",
    });
    expect(made.status).toBe('ok');
    const app = await h.sc('start_web_app', { app_type: 'static', directory: 'site' });
    const { value: r, worstMs } = await withProbe(
      () => h.call('list_sessions', {}),
      h.call('export_web_app', { app_id: app.app_id }, { timeout: 180_000 }),
    );
    expect(r.isError).toBeFalsy();
    const exp = r.structuredContent as Record<string, any>;
    const files = Object.fromEntries(
      (exp.files as Array<{ path: string; size: number }>).map((f) => [f.path, f.size]),
    );
    expect(files['static/index.html']).toBe(11);
    expect(files['static/mid.bin']).toBe(30 * MIB);
    expect(files['static/big0.bin']).toBeUndefined();
    expect(files['static/big1.bin']).toBeUndefined();
    for (const big of ['site/big0.bin', 'site/big1.bin']) {
      expect(exp.warnings).toContainEqual(
        expect.stringMatching(new RegExp(`'${big}' \\(1 GiB\\) was not copied.*50 MiB`)),
      );
    }
    expect(exp.smoke_test.passed).toBe(true);
    expect(diskUsage(exp.path)).toBeLessThan(4 * MIB);
    expect(worstMs).toBeLessThan(1500);
  }, 240_000);
});
