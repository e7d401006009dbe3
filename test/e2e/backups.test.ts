// End-to-end: backups and rollback through the real server, with the session's Python running throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

describe('backups through the server', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  const files = async () =>
    ((await h.sc('list_artifacts', { session_id: sid })).artifacts as Array<{ path: string }>)
      .map((a) => a.path)
      .sort();

  it('backs up, rolls back exactly, and undoes the rollback with the pre_rollback backup', async () => {
    await h.sc('execute', {
      session_id: sid,
      code: 'import os\nos.makedirs("d/é", exist_ok=True)\nopen("d/é/a.txt","w").write("one")\nopen("empty","w").close()\nkept = 7',
    });
    const b = await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'first' });
    expect(b.file_count).toBe(2);
    await h.sc('execute', {
      session_id: sid,
      code: 'open("d/é/a.txt","w").write("two")\nopen("later.txt","w").write("x")',
    });
    expect(await files()).toEqual(['d/é/a.txt', 'empty', 'later.txt']);

    const r = await h.sc('rollback_to_backup', { session_id: sid, backup_name: 'first' });
    expect(r.python_restarted).toBe(false);
    expect(await files()).toEqual(['d/é/a.txt', 'empty']);
    const after = await h.sc('execute', { session_id: sid, code: 'open("d/é/a.txt").read(), kept' });
    expect(after.result['text/plain']).toBe("('one', 7)");

    await h.sc('rollback_to_backup', { session_id: sid, backup_name: r.pre_rollback_backup });
    expect(await files()).toEqual(['d/é/a.txt', 'empty', 'later.txt']);
    const list = await h.sc('list_artifact_backups', { session_id: sid });
    expect((list.backups as any[]).map((x) => x.reason)).toEqual(
      expect.arrayContaining(['manual', 'pre_rollback']),
    );
    const details = await h.sc('get_backup_details', { session_id: sid, backup_name: 'first' });
    expect(details.diff_vs_workspace.added).toEqual(['later.txt']);
    expect(details.diff_vs_workspace.changed).toEqual(['d/é/a.txt']);
    expect((await h.sc('verify_backup', { session_id: sid, backup_name: 'first' })).ok).toBe(true);
  });

  it('takes a pre_cleanup backup before a cleanup removes files', async () => {
    const r = await h.sc('cleanup_artifacts', { session_id: sid });
    expect(r.removed_count).toBeGreaterThan(0);
    expect(r.backup).toMatch(/^backup_/);
    expect(await files()).toEqual([]);
    await h.sc('rollback_to_backup', { session_id: sid, backup_name: r.backup });
    expect(await files()).toEqual(['d/é/a.txt', 'empty', 'later.txt']);
  });

  it('restores a single file and compares backups', async () => {
    await h.sc('execute', { session_id: sid, code: 'import os\nos.remove("later.txt")' });
    await h.sc('restore_file', { session_id: sid, backup_name: 'first', path: 'd/é/a.txt' });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'second' });
    const d = await h.sc('diff_backups', { session_id: sid, a: 'first', b: 'second' });
    expect(d).toMatchObject({ added: [], changed: [], deleted: [] });
  });

  it('sends progress with totals while a backup runs', async () => {
    const s2 = (await h.sc('create_session', {})).session_id;
    await h.sc('execute', {
      session_id: s2,
      code: 'for i in range(60):\n    open(f"f{i}.txt", "w").write(str(i))',
    });
    const seen: Array<{ progress: number; total?: number }> = [];
    await h.client.callTool(
      { name: 'backup_current_artifacts', arguments: { session_id: s2 } },
      { onprogress: (p: { progress: number; total?: number }) => seen.push(p) },
    );
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((p) => p.total === 60)).toBe(true);
    expect(seen.map((p) => p.progress)).toEqual([...seen.map((p) => p.progress)].sort((a, b) => a - b));
  });

  it("cleanup_old_backups keeps the server's --max-backups by default, and 0 deletes them all", async () => {
    const own = await startStdio({ args: ['--max-backups', '20'] });
    try {
      const s = (await own.sc('create_session', {})).session_id;
      await own.sc('execute', { session_id: s, code: 'open("a.txt","w").write("a")' });
      for (let i = 0; i < 12; i++) await own.sc('backup_current_artifacts', { session_id: s });
      const kept = await own.sc('cleanup_old_backups', { session_id: s });
      expect(kept.deleted).toEqual([]);
      expect(kept.kept).toHaveLength(12);
      const none = await own.sc('cleanup_old_backups', { session_id: s, max_backups: 0 });
      expect(none.deleted).toHaveLength(12);
      expect((await own.sc('list_artifact_backups', { session_id: s })).backups).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('refuses bad names and reports unknown ones', async () => {
    for (const name of ['../x', '', 'x'.repeat(1000), 'a\0b', 'first']) {
      const res = await h.call('backup_current_artifacts', { session_id: sid, backup_name: name });
      expect(res.isError, JSON.stringify(name.slice(0, 20))).toBe(true);
      expect(errorOf(res).code).toBe('invalid_argument');
    }
    const missing = await h.call('rollback_to_backup', { session_id: sid, backup_name: 'nope' });
    expect(errorOf(missing).code).toBe('not_found');
  });
});
