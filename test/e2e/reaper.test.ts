// End-to-end: the idle reaper stops a session's processes and nothing else. Files, backups, history and the session
// id survive; the next call (by id or as the default) brings the session back and says Python state was reset; web-app
// traffic counts as use; only --session-retention closes (and deletes) a session nobody uses.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxCgroupDirs, liveBoxCgroupCount } from './box-cgroups.js';
import { errorOf, startStdio, type Harness } from './harness.js';
import { until } from './until.js';

const FLASK = `from flask import Flask
app = Flask(__name__)

@app.route('/ping')
def ping():
    return 'pong'
`;

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** Waits (at most 15 s) until list_sessions shows the session with its processes stopped. */
async function untilStopped(h: Harness, sessionId: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = (await h.sc('list_sessions', {})).sessions as Array<Record<string, any>>;
    const s = listed.find((x) => x.session_id === sessionId);
    if (!s || !s.running || Date.now() > deadline) return s ?? {};
    await sleep(250);
  }
}

describe('idle reaper', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--idle-ttl', '2'] });
  });
  afterAll(async () => {
    await h.close();
  });

  it('stops an idle session but keeps its id, files, backups and history; a call by id revives it', async () => {
    const tools = await h.client.listTools();
    expect(tools.tools.find((t) => t.name === 'create_session')!.description).toContain('2 s');
    const s = await h.sc('create_session', { name: 'idle' });
    const sid = s.session_id as string;
    await h.sc('execute', { session_id: sid, code: 'open("keep.txt", "w").write("kept")\nv = 1' });
    await h.sc('execute', { session_id: sid, code: 'v += 1' });
    expect(boxCgroupDirs(sid)).toHaveLength(liveBoxCgroupCount()); // running: the check below can see them stay
    const backup = await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'before-idle' });
    expect(backup.file_count).toBe(1);

    const listed = await untilStopped(h, sid);
    expect(listed.session_id).toBe(sid);
    expect(listed.running).toBe(false);
    // The box's processes are gone: its cgroup (v1: memory and pids folders; v2: one) is removed once they have ended.
    await until(() => boxCgroupDirs(sid).length === 0, `the cgroup of ${sid} to be removed`, 5000);
    expect(existsSync(join(h.dataDir, 'sessions', sid, 'workspace', 'keep.txt'))).toBe(true);
    // Backups are still there, blobs included.
    expect((await h.sc('verify_backup', { session_id: sid, backup_name: 'before-idle' })).ok).toBe(true);

    const r = await h.sc('execute', { session_id: sid, code: 'open("keep.txt").read()' });
    expect(r.session_id).toBe(sid);
    expect(r.result['text/plain']).toBe("'kept'");
    expect(r.state_preserved).toBe(false);
    expect(r.kernel_restarted).toBe(true);
    expect(r.execution_count).toBe(1);
    expect(r.notices.join(' ')).toMatch(/unused for 2 s .*processes were stopped/);
    // The variables did not survive, and the next result no longer reports the loss.
    const gone = await h.call('execute', { session_id: sid, code: 'v' });
    expect(errorOf(gone).details.ename).toBe('NameError');
    expect((gone.structuredContent as any).state_preserved).toBe(true);
    expect((gone.structuredContent as any).notices).toEqual([]);
    expect((gone.structuredContent as any).execution_count).toBe(2);
    // History survived: the notebook export has every call, the ones before the stop included.
    const nb = await h.sc('export_notebook', { session_id: sid });
    expect(nb.cell_count).toBe(4);
    const cells = await h.sc('read_file', { session_id: sid, path: nb.path });
    expect(cells.text).toContain('v += 1');
  });

  it('revives the default session in place: the next call without session_id finds its files and says so', async () => {
    const first = await h.sc('execute', { code: 'open("d.txt", "w").write("default")\nd = 5' });
    const sid = first.session_id as string;
    // Called as soon as the stop begins: the new box waits for the old one to be gone (they share a cgroup name).
    expect((await untilStopped(h, sid)).running).toBe(false);
    const r = await h.sc('execute', { code: 'open("d.txt").read()' });
    expect(r.session_id).toBe(sid);
    expect(r.result['text/plain']).toBe("'default'");
    expect(r.state_preserved).toBe(false);
    expect(r.notices.join(' ')).toMatch(/processes were stopped/);
  });

  it('a shell call after the stop shows the notice; the next execute still reports the lost state', async () => {
    const s = await h.sc('create_session', {});
    const sid = s.session_id as string;
    await h.sc('execute', { session_id: sid, code: 'w = 1' });
    expect((await untilStopped(h, sid)).running).toBe(false);
    const sh = await h.sc('shell_execute', { session_id: sid, command: 'echo hi' });
    expect(sh.notices.join(' ')).toMatch(/processes were stopped/);
    const r = await h.call('execute', { session_id: sid, code: 'w' });
    const sc = r.structuredContent as Record<string, any>;
    expect(errorOf(r).details.ename).toBe('NameError');
    expect(sc.state_preserved).toBe(false);
    expect(sc.kernel_restarted).toBe(true);
    expect(sc.notices.join(' ')).toMatch(/processes were stopped/);
  });

  it('keeps a session whose web app answers steady traffic running', async () => {
    const s = await h.sc('create_session', {});
    const sid = s.session_id as string;
    const app = await h.sc('start_web_app', { session_id: sid, code: FLASK, app_type: 'flask' });
    // Three times the TTL with no tool call at all, only requests to the app, two a second.
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      const res = await fetch(new URL('ping', app.url));
      expect(await res.text()).toBe('pong');
      await sleep(500);
    }
    const apps = (await h.sc('list_web_apps', { session_id: sid })).apps as Array<Record<string, any>>;
    expect(apps.find((a) => a.app_id === app.app_id)?.status).toBe('running');
    const listed = (await h.sc('list_sessions', {})).sessions as Array<Record<string, any>>;
    expect(listed.find((x) => x.session_id === sid)?.running).toBe(true);
    // With the traffic gone, the app stops with the session's processes.
    expect((await untilStopped(h, sid)).running).toBe(false);
    let status = 'running';
    for (let i = 0; i < 50 && status === 'running'; i++, await sleep(100)) {
      const after = (await h.sc('list_web_apps', { session_id: sid })).apps as Array<Record<string, any>>;
      status = after.find((a) => a.app_id === app.app_id)?.status;
    }
    expect(status).not.toBe('running');
  });
});

describe('session retention', () => {
  it('closes a session unused past --session-retention: then, and only then, its files go', async () => {
    const h = await startStdio({ args: ['--idle-ttl', '1', '--session-retention', '4'] });
    try {
      const s = await h.sc('create_session', {});
      const sid = s.session_id as string;
      await h.sc('execute', { session_id: sid, code: 'open("f.txt", "w").write("x")' });
      const root = join(h.dataDir, 'sessions', sid);
      // Stopped first (files kept), closed later.
      expect((await untilStopped(h, sid)).running).toBe(false);
      expect(existsSync(join(root, 'workspace', 'f.txt'))).toBe(true);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const listed = (await h.sc('list_sessions', {})).sessions as Array<Record<string, any>>;
        if (!listed.some((x) => x.session_id === sid)) break;
        await sleep(250);
      }
      expect(errorOf(await h.call('execute', { session_id: sid, code: '1' })).code).toBe('not_found');
      for (let i = 0; i < 50 && existsSync(root); i++) await sleep(100);
      expect(existsSync(root)).toBe(false);
    } finally {
      await h.close();
    }
  });
});
