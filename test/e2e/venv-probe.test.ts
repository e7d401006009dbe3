// The box plants .venv/bin/python as a symlink to a host path; when the box starts again the server checks the venv.
// That check must not resolve the link on the host: no host path (the server's working folder behind
// /proc/self/cwd) in the notice, and the same notice whether the host path exists or not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { until } from './until.js';

/** With --idle-ttl 1 the session's box stops once it is idle; the next call starts a new one. */
async function idleStop(h: Harness, sid: string): Promise<void> {
  await until(async () => {
    const list = (await h.sc('list_sessions', {})).sessions as Array<{
      session_id: string;
      running: boolean;
    }>;
    return list.find((s) => s.session_id === sid)?.running === false;
  }, 'the idle session to stop');
}

/** The notices of the first call on a new box, after `target` was planted as the venv's python. */
async function noticeAfterRestart(h: Harness, sid: string, target: string): Promise<string> {
  await h.sc('execute', {
    session_id: sid,
    code:
      "import os\nos.makedirs('.venv/bin', exist_ok=True)\nopen('.venv/pyvenv.cfg','w').write('home = /usr/bin\\n')\n" +
      "if os.path.lexists('.venv/bin/python'): os.unlink('.venv/bin/python')\n" +
      `os.symlink(${JSON.stringify(target)}, '.venv/bin/python')`,
  });
  await idleStop(h, sid);
  const r = await h.sc('execute', { session_id: sid, code: '1 + 1' });
  expect(r.result['text/plain']).toBe('2');
  return (r.notices as string[]).filter((n) => n.includes('virtualenv')).join('\n');
}

describe('a planted venv python link', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startStdio({ args: ['--idle-ttl', '1'] });
    sid = (await h.sc('create_session', {})).session_id as string;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('is reported unusable without resolving it on the host', async () => {
    const cwd = await noticeAfterRestart(h, sid, '/proc/self/cwd');
    expect(cwd).toMatch(/virtualenv .* is not usable/);
    expect(cwd).not.toContain(process.cwd());
    const there = await noticeAfterRestart(h, sid, '/etc/hostname');
    const missing = await noticeAfterRestart(h, sid, '/etc/no-such-file-here');
    expect(there).toMatch(/is not usable/);
    expect(missing).toBe(there);
  }, 180_000);

  it('a venv made by python -m venv (python -> python3 -> /usr/bin/python3) is used', async () => {
    const made = await h.sc('execute', {
      session_id: sid,
      code:
        "import shutil, subprocess\nshutil.rmtree('.venv', ignore_errors=True)\n" +
        "subprocess.run(['/usr/bin/python3', '-m', 'venv', '--without-pip', '.venv'], check=True).returncode",
    });
    expect(made.result['text/plain']).toBe('0');
    await idleStop(h, sid);
    const r = await h.sc('execute', { session_id: sid, code: 'import sys; sys.prefix' });
    expect(r.result['text/plain']).toBe("'/workspace/.venv'");
    expect((r.notices as string[]).join('\n')).not.toMatch(/not usable/);
  }, 120_000);
});
