// The attack: while a static app's folder is copied into an export, a box process swaps a subfolder with a symlink to
// a host folder; no export may contain the host folder's files (checked through get_export_details).
import { describe, expect, it } from 'vitest';
import { raceSession, startSwapper, stopSwappers } from './race-swapper.js';

// Each export smoke-tests its bundle in a fresh box (about a second), so fewer tries than the other races.
const TRIES = 40;
const SECRET = `host-secret-${process.pid}-${Date.now()}`;

describe('export_web_app of a static folder against a swapping box process', () => {
  const race = raceSession({ 'secret.txt': SECRET }, { args: ['--tools', 'full'] });

  it('never copies a host file into the bundle', async () => {
    const { h, sid, canary } = race;
    await h.sc('execute', {
      session_id: sid,
      code:
        "import os\nos.makedirs('site/pages', exist_ok=True)\nopen('site/index.html','w').write('<h1>hi</h1>')\n" +
        "open('site/pages/secret.txt','w').write('box page')\n" +
        `os.symlink(${JSON.stringify(canary.dir)}, 'site/alias')`,
    });
    const app = await h.sc('start_web_app', { session_id: sid, app_type: 'static', directory: 'site' });
    await startSwapper(h, sid, { cwd: '/workspace/site', folder: 'pages', link: 'alias', seconds: 600 });
    let leaked: string | null = null;
    let exported = 0;
    for (let i = 0; i < TRIES && leaked === null; i++) {
      // an export smoke-tests its bundle in a box of its own: on a loaded machine that can pass the client's 60 s
      const r = await h.call('export_web_app', { session_id: sid, app_id: app.app_id }, { timeout: 180_000 });
      if (r.isError) continue;
      exported++;
      const name = (r.structuredContent as { export_name: string }).export_name;
      const d = await h.sc('get_export_details', { export_name: name, include_contents: true });
      for (const f of d.files as Array<{ path: string; content?: string }>) {
        if (f.content?.includes(SECRET)) leaked = f.path;
      }
      await h.call('cleanup_web_app_export', { export_name: name });
    }
    await stopSwappers(h, sid);
    expect(leaked).toBeNull();
    expect(exported).toBeGreaterThan(0);
  }, 600_000);
});
