// End-to-end attacks on the packages reports: code in a session plants distribution metadata and a .pth file in its
// own virtualenv, which the listing and the install runs read and execute, so their reports can carry anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

/** Session code: a hand-made venv, as any code in the session may make one. */
const MAKE_VENV =
  'import subprocess\n' +
  "subprocess.run(['/usr/bin/python3', '-I', '-m', 'venv', '--without-pip', '--system-site-packages', '/workspace/.venv'], check=True)";
/** Session code binding SITE to the venv's site-packages folder. */
const SITE =
  "import os, sys\nSITE = '/workspace/.venv/lib/python%d.%d/site-packages' % sys.version_info[:2]\n";

/** Session code writing one distribution's METADATA into the venv (a dist-info folder is all a listing reads). */
const plantDist = (folder: string, metadata: string) =>
  `${SITE}os.makedirs(os.path.join(SITE, ${JSON.stringify(folder)}), exist_ok=True)\n` +
  `open(os.path.join(SITE, ${JSON.stringify(folder)}, 'METADATA'), 'w').write(${JSON.stringify(metadata)})`;

/**
 * A .pth file runs in every Python that starts on the venv. In the install run it makes the installer "succeed"
 * without installing anything and makes the probe that reads the installed distribution answer a forged one.
 */
const FORGE_INSTALL = [
  'import os, sys',
  "a = ' '.join(getattr(sys, 'orig_argv', []))",
  "if ' pip install ' in a: os._exit(0)",
  "if 'import importlib.metadata as m' in a:",
  '    import importlib.metadata as m',
  '    class D:',
  "        metadata = {'Name': 'sbx-forged'}",
  '        version = 7',
  "        def locate_file(self, p): return '/workspace/.venv/forged'",
  '    m.distribution = lambda n, D=D: D()',
].join('\n');
const plantPth = (name: string, body: string) =>
  `${SITE}open(os.path.join(SITE, ${JSON.stringify(name)}), 'w').write('import sys; exec(' + repr(${JSON.stringify(body)}) + ')\\n')`;

describe('packages reports written by code in the session', () => {
  let h: Harness;
  let sessionId: string;

  beforeAll(async () => {
    h = await startStdio({ env: { PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1' } });
    sessionId = (await h.sc('create_session', {})).session_id;
    const made = await h.sc('execute', { session_id: sessionId, code: MAKE_VENV });
    expect(made.status, JSON.stringify(made.error)).toBe('ok');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists the valid distributions and leaves out one whose metadata has no version, with a warning', async () => {
    const planted = await h.sc('execute', {
      session_id: sessionId,
      code:
        plantDist('sbx_noversion-1.0.dist-info', 'Metadata-Version: 2.1\nName: sbx-noversion\n') +
        '\n' +
        plantDist('sbx_fine-2.0.dist-info', 'Metadata-Version: 2.1\nName: sbx-fine\nVersion: 2.0\n'),
    });
    expect(planted.status, JSON.stringify(planted.error)).toBe('ok');

    const res = await h.call('list_installed_packages', { session_id: sessionId });
    expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
    const r = res.structuredContent as Record<string, any>;
    const names = r.packages.map((p: any) => p.name);
    expect(names).not.toContain('sbx-noversion');
    expect(r.packages).toContainEqual({ name: 'sbx-fine', version: '2.0', source: 'venv' });
    expect(r.packages.find((p: any) => p.name === 'numpy')?.source).toBe('system');
    expect(r.counts.venv).toBe(r.packages.filter((p: any) => p.source === 'venv').length);
    expect(r.warnings.join('\n')).toMatch(/1 distribution.*sbx-noversion/);
    const text = res.content.find((c) => c.type === 'text')?.text ?? '';
    expect(text).toContain('sbx-noversion');
  });

  it('answers an install whose report a .pth file forged with the install kept and installed left unknown', async () => {
    const planted = await h.sc('execute', {
      session_id: sessionId,
      code: plantPth('sbx_forge.pth', FORGE_INSTALL),
    });
    expect(planted.status, JSON.stringify(planted.error)).toBe('ok');

    const res = await h.call('install_package', { package: 'sbx-forged', session_id: sessionId });
    expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
    const r = res.structuredContent as Record<string, any>;
    expect(r.requirement).toBe('sbx-forged');
    expect(r.installed).toBeNull();
    expect(r.warnings.join('\n')).toMatch(/installed distribution.*not valid/);
    expect(r.venv).toBe('/workspace/.venv');
  });

  it('refuses a listing whose whole report a .pth file replaced, with a structured error', async () => {
    // The listing prints its report with json.dumps in a Python on the venv: this .pth replaces what it prints.
    const forge = [
      'import json',
      'def dumps(o, *a, _real=json.dumps, **k):',
      "    if isinstance(o, dict) and 'packages' in o and 'python' in o: o = {'python': 1, 'packages': 'all'}",
      '    return _real(o, *a, **k)',
      'json.dumps = dumps',
    ].join('\n');
    const planted = await h.sc('execute', {
      session_id: sessionId,
      code: plantPth('sbx_forge.pth', forge),
    });
    expect(planted.status, JSON.stringify(planted.error)).toBe('ok');
    const res = await h.call('list_installed_packages', { session_id: sessionId });
    expect(res.isError).toBe(true);
    const err = errorOf(res);
    expect(err.code).toBe('runtime_error');
    expect(err.message).toMatch(/report.*not valid/);
  });
});
