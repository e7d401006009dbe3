// End-to-end: the data dir on a small tmpfs that a cell fills up. Calls that need the disk answer disk_full with a
// hint, nothing that was already there is lost, the history and audit rows of the full-disk calls are written once
// space is freed, and the server keeps serving. Needs root to mount the tmpfs; skipped with the reason otherwise.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

describe('a full disk', () => {
  let mountPoint = '';
  let skipWhy: string | null = null;
  let h: Harness;
  let sid: string;
  // Mounted here rather than at load, so a run that filters this test out mounts nothing.
  beforeAll(async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'sandbox-mcp-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', mountPoint], {
        stdio: 'pipe',
      });
    } catch (err) {
      skipWhy = `cannot mount a tmpfs here (${String((err as Error).message).split('\n')[0]})`;
      console.log(`skipping the full-disk test: ${skipWhy}`);
      return;
    }
    h = await startStdio({ dataDir: join(mountPoint, 'data'), args: ['--pool-size', '0'] });
    sid = (await h.sc('create_session', {})).session_id;
    await h.sc('write_file', { session_id: sid, path: 'keep.txt', text: 'precious' });
    expect((await h.sc('backup_current_artifacts', { session_id: sid })).file_count).toBe(1);
  });
  afterAll(async () => {
    await h?.close();
    if (skipWhy === null && mountPoint) execFileSync('umount', ['-l', mountPoint]);
    if (mountPoint) rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers disk_full with a hint, keeps what was there, and writes the rows it held once space is back', async (ctx) => {
    if (skipWhy !== null) ctx.skip();
    const fill = await h.sc('execute', {
      session_id: sid,
      code: "f = open('filler.bin', 'wb')\nwhile True:\n    f.write(b'0' * (1 << 20))",
    });
    expect(fill.status).toBe('error');
    expect(fill.error.code).toBe('runtime_error');
    expect(fill.error.message).toContain('No space left on device');
    expect(fill.error.hint).toContain('disk is full');
    await h.sc('execute', { session_id: sid, code: 'during = "the disk was full"' });
    const long = await h.sc('execute', { session_id: sid, code: "print('x' * 200_000)" });
    expect(long.stdout_truncated).toBe(true);
    expect(long.notices.join('\n')).toMatch(/no space left on the disk/);

    const backup = await h.call('backup_current_artifacts', { session_id: sid });
    expect(backup.isError).toBe(true);
    const err = (backup.structuredContent as any).error;
    expect(err.code).toBe('disk_full');
    expect(err.hint).toContain('cleanup_old_backups');
    const write = (await h.sc('write_file', { session_id: sid, path: 'new.txt', text: 'x'.repeat(100_000) }))
      .error;
    expect(write.code).toBe('disk_full');

    // The server still answers, the session still runs, and nothing that was there is lost.
    expect((await h.sc('list_sessions', {})).sessions.map((s: any) => s.session_id)).toContain(sid);
    expect((await h.sc('read_file', { session_id: sid, path: 'keep.txt' })).text).toBe('precious');
    expect((await h.sc('list_artifact_backups', { session_id: sid })).backups).toHaveLength(1);

    const freed = await h.sc('execute', {
      session_id: sid,
      code: "import os\nf.close()\nos.remove('filler.bin')\nduring",
    });
    expect(freed.result['text/plain']).toBe("'the disk was full'");
    const after = await h.call('backup_current_artifacts', { session_id: sid });
    expect(after.isError ?? false).toBe(false);
    const nb = await h.sc('export_notebook', { session_id: sid });
    const cells = JSON.parse(
      readFileSync(join(h.dataDir, 'sessions', sid, 'workspace', nb.path), 'utf8'),
    ).cells;
    const sources = cells.map((c: { source: string[] | string }) => [c.source].flat().join(''));
    expect(sources).toContain('during = "the disk was full"');
    const limits = await h.sc('get_sandbox_limitations', { session_id: sid });
    const disk = limits.limits.find((l: { name: string }) => l.name === 'workspace disk space');
    expect(disk.value).toBeLessThanOrEqual(64); // the 64 MiB tmpfs, as the session's own answer shows it
    const audit = await h.sc('get_audit_log', { session_id: sid });
    expect(audit.entries.filter((e: any) => e.kind === 'execute').length).toBeGreaterThanOrEqual(3);
  });
});
