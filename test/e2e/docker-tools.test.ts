// End-to-end: the tools beyond execute on the Docker backend (`--isolation docker`, a real engine from
// scripts/test-docker-engine.sh): backups, rollback and restore_file, the shell policy, install_package of a wheel
// from the workspace, a Flask app reached from the host through its relay, and an export whose smoke test runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';
import { buildLocalWheel } from './local-wheel.js';

const { engine, skip } = engineForFile('docker-tools');

const FLASK = `from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    return {'box': open('/etc/hostname').read().strip(), 'sum': sum(range(10))}

if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
`;

describe.skipIf(skip !== null)('the tools on the Docker backend', () => {
  let h: Harness;
  let sid: string;
  let work: string;
  beforeAll(async () => {
    // the box image is built (or found) before any call with a client-side timeout
    prepareBoxImage(CLI, engineEnv(engine));
    work = mkdtempSync(join(tmpdir(), 'sbx-docker-tools-'));
    h = await startStdio({
      args: ['--isolation', 'docker', '--memory-mb', '512', '--allow-package-urls'],
      // no index at all: the wheel comes from the workspace
      env: { ...engineEnv(engine), PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1' },
    });
    sid = (await h.sc('create_session', {})).session_id;
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const files = async () =>
    ((await h.sc('list_artifacts', { session_id: sid })).artifacts as Array<{ path: string }>)
      .map((a) => a.path)
      .sort();

  it('backs up, rolls back the files the box changed, and restores one file', async () => {
    await h.sc('execute', {
      session_id: sid,
      code: 'import os\nos.makedirs("d", exist_ok=True)\nopen("d/a.txt","w").write("one")\nkept = 7',
    });
    const b = await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'first' });
    expect(b.file_count).toBe(1);
    await h.sc('execute', {
      session_id: sid,
      code: 'open("d/a.txt","w").write("two")\nopen("later.txt","w").write("x")',
    });
    expect(await files()).toEqual(['d/a.txt', 'later.txt']);
    const r = await h.sc('rollback_to_backup', { session_id: sid, backup_name: 'first' });
    expect(await files()).toEqual(['d/a.txt']);
    const after = await h.sc('execute', { session_id: sid, code: 'open("d/a.txt").read(), kept' });
    expect(after.result['text/plain']).toBe("('one', 7)");
    // the box sees the restored file too, and can change it again
    await h.sc('shell_execute', { session_id: sid, command: 'echo three > d/a.txt' });
    await h.sc('restore_file', { session_id: sid, backup_name: 'first', path: 'd/a.txt' });
    const back = await h.sc('shell_execute', { session_id: sid, command: 'cat d/a.txt' });
    expect(String(back.stdout).trim()).toBe('one');
    await h.sc('rollback_to_backup', { session_id: sid, backup_name: r.pre_rollback_backup });
    expect(await files()).toEqual(['d/a.txt', 'later.txt']);
  });

  it('applies the shell policy in front of the container: a denied command never runs', async () => {
    const r = await h.call('shell_execute', {
      session_id: sid,
      command: 'touch ran-mount.txt; ls | mount /dev/sda /mnt',
    });
    expect(r.isError).toBe(true);
    expect(errorOf(r).code).toBe('policy_denied');
    expect(errorOf(r).details.rule.id).toBe('mount');
    const ls = await h.sc('shell_execute', { session_id: sid, command: 'ls ran-mount.txt || echo absent' });
    expect(ls.stdout).toContain('absent');
  });

  it("starts a session's next box at once when its last one ended, under the same container name", async () => {
    const s = (await h.sc('create_session', {})).session_id;
    for (let i = 0; i < 5; i++) {
      // the agent ends, so does the container; a call may still meet the dying box (and say its kernel was killed),
      // then the next one starts the session's box again
      await h.call('execute', {
        session_id: s,
        code: 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)',
      });
      const seen: string[] = [];
      for (let tries = 0; tries < 3 && !seen.includes('42'); tries++) {
        const res = await h.call('execute', { session_id: s, code: '6 * 7' });
        const sc = res.structuredContent as Record<string, any> | undefined;
        seen.push(sc?.result?.['text/plain'] ?? JSON.stringify(sc?.error ?? errorOf(res)).slice(0, 600));
      }
      expect(seen.filter((x) => x.includes('"internal"'))).toEqual([]);
      expect(seen.at(-1)).toBe('42');
    }
  });

  it('installs a wheel from a workspace folder into the venv, and the package imports', async () => {
    const wheel = buildLocalWheel(work, 'sbx_docker_pkg');
    await h.sc('write_file', {
      session_id: sid,
      path: `wheels/${wheel.name}`,
      base64: wheel.bytes.toString('base64'),
    });
    const res = await h.call('install_package', { session_id: sid, package: `./wheels/${wheel.name}` });
    expect(res.isError, JSON.stringify(res.content).slice(0, 2000)).toBeFalsy();
    const r = res.structuredContent as Record<string, any>;
    // a path names no distribution, so the result cannot say which one it installed; the import below does
    expect(r.python_restarted).toBe(true);
    expect(r.venv).toBe('/workspace/.venv');
    const run = await h.sc('execute', {
      session_id: sid,
      code: 'import sys, sbx_docker_pkg\n(sys.prefix, sbx_docker_pkg.VALUE)',
    });
    expect(run.isolation).toBe('docker');
    expect(run.result['text/plain']).toBe("('/workspace/.venv', 42)");
  });

  it('serves a Flask app from the container to the host through the relay', async () => {
    const app = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    expect(app.status, JSON.stringify(app).slice(0, 2000)).toBe('running');
    expect(app.http_status).toBe(200);
    const res = await fetch(app.url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ box: 'sandbox', sum: 45 });
    await h.sc('stop_web_app', { app_id: app.app_id });
  });

  it('exports an app whose smoke test passes in a fresh Docker box', async () => {
    const r = await h.sc('export_web_app', { code: FLASK, app_type: 'flask', export_name: 'docker_flask' });
    expect(r.smoke_test, JSON.stringify(r.smoke_test)).toMatchObject({ passed: true, http_status: 200 });
    expect(readFileSync(join(r.path, 'app.py'), 'utf8')).toBe(FLASK);
  });
});
