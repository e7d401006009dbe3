// End-to-end: a Streamlit app in the sandbox, opened in headless Chromium through the relay — the page only renders
// once its WebSocket works. Streamlit is not a Debian package: when the sandbox's Python lacks it, the test installs it
// from the package index pip is configured for (briefly) and skips, saying why, when it cannot.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Harness } from './harness.js';
import { CHROMIUM, withPage } from './webapps-browser.js';

const PY = '/usr/bin/python3';
// Kept between runs; a venv that sees the system packages, so only what Debian lacks is installed.
const VENV = '/tmp/sandbox-mcp-test-streamlit-venv';
const SITE = join(VENV, 'lib', `python${pyMinor()}`, 'site-packages');
const NOT_COPIED = new Set([
  'pip',
  'setuptools',
  'pkg_resources',
  '_distutils_hack',
  'distutils-precedence.pth',
  '__pycache__',
]);

function pyMinor(): string {
  const r = spawnSync(PY, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  return r.stdout.trim() || '3';
}

/** Where streamlit comes from: 'system', a site-packages folder to copy into the workspace, or why it is missing. */
function findStreamlit():
  { kind: 'system' } | { kind: 'site'; dir: string } | { kind: 'missing'; reason: string } {
  if (spawnSync(PY, ['-c', 'import streamlit'], { stdio: 'ignore' }).status === 0) return { kind: 'system' };
  const venvPy = join(VENV, 'bin', 'python');
  const importable = () => spawnSync(venvPy, ['-c', 'import streamlit'], { stdio: 'ignore' }).status === 0;
  if (existsSync(venvPy) && importable()) return { kind: 'site', dir: SITE };
  // `pip install --target` would also reinstall what Debian already has (and need it from the index); a venv with
  // --system-site-packages installs only what is missing.
  const mk = spawnSync(PY, ['-m', 'venv', '--clear', '--system-site-packages', VENV], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (mk.status !== 0)
    return { kind: 'missing', reason: `python3 -m venv failed: ${(mk.stderr || '').trim().slice(-300)}` };
  const pip = spawnSync(
    venvPy,
    ['-m', 'pip', 'install', '--quiet', '--retries', '0', '--timeout', '10', 'streamlit'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  if (pip.status !== 0 || !importable()) {
    const why = pip.error ? String(pip.error) : (pip.stderr || '').trim().split('\n').slice(-3).join(' | ');
    return { kind: 'missing', reason: `pip install streamlit failed: ${why.slice(0, 400)}` };
  }
  return { kind: 'site', dir: SITE };
}

const found = findStreamlit();
if (found.kind === 'missing') console.warn(`skipping the Streamlit tests: ${found.reason}`);

describe.skipIf(found.kind === 'missing')('a Streamlit app in the sandbox', () => {
  let h: Harness;
  let sessionId: string;
  beforeAll(async () => {
    h = await start('stdio');
    sessionId = (await h.sc('create_session', {})).session_id as string;
    if (found.kind === 'site') {
      // The app runs with the workspace on its path: hard links put the packages there without copying 250 MB.
      const ws = join(h.dataDir, 'sessions', sessionId, 'workspace');
      for (const entry of readdirSync(found.dir)) {
        if (!NOT_COPIED.has(entry)) execFileSync('cp', ['-al', join(found.dir, entry), ws]);
      }
    }
  }, 240_000);
  afterAll(async () => {
    await h?.close();
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'renders in headless Chromium through the relay (WebSocket included)',
    async () => {
      const code =
        "import streamlit as st\nst.title('Hello from Streamlit')\nst.write('the answer is', 6 * 7)\n";
      const r = await h.sc('start_web_app', { code, session_id: sessionId, ready_timeout_s: 90 });
      expect(r.app_type).toBe('streamlit');
      expect(r.status).toBe('running');
      expect((await fetch(r.url)).status).toBe(200);
      const text = await withPage(async (page) => {
        await page.goto(r.url);
        await page.getByText('Hello from Streamlit').waitFor({ timeout: 60_000 });
        await page.getByText('the answer is').waitFor({ timeout: 30_000 });
        return page.locator('body').innerText();
      });
      expect(text).toContain('Hello from Streamlit');
      expect(text).toMatch(/the answer is\s*42/);
      const stopped = await h.sc('stop_web_app', { app_id: r.app_id });
      expect(stopped.status).toBe('stopped');
    },
    180_000,
  );
});
