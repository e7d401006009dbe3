// End-to-end: the data dir on a small tmpfs that a cell fills up. Calls that need the disk answer disk_full with a
// hint, nothing that was already there is lost, the history and audit rows of the full-disk calls are written once
// space is freed, and the server keeps serving. Needs root to mount the tmpfs; skipped with the reason otherwise.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

/** A small tmpfs for one describe block: mounted in beforeAll, unmounted in afterAll; `skipWhy` when it cannot be. */
function smallDisk(sizeMb: number) {
  const disk = { mountPoint: '', skipWhy: null as string | null };
  const mount = () => {
    disk.mountPoint = mkdtempSync(join(tmpdir(), 'sandbox-mcp-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', disk.mountPoint], {
        stdio: 'pipe',
      });
    } catch (err) {
      disk.skipWhy = `cannot mount a tmpfs here (${String((err as Error).message).split('\n')[0]})`;
      console.log(`skipping a full-disk test: ${disk.skipWhy}`);
    }
  };
  const unmount = () => {
    if (disk.skipWhy === null && disk.mountPoint) execFileSync('umount', ['-l', disk.mountPoint]);
    if (disk.mountPoint) rmSync(disk.mountPoint, { recursive: true, force: true });
  };
  return { disk, mount, unmount };
}

describe('a full disk', () => {
  const { disk: tmpfs, mount, unmount } = smallDisk(64);
  let h: Harness;
  let sid: string;
  // Mounted here rather than at load, so a run that filters this test out mounts nothing.
  beforeAll(async () => {
    mount();
    if (tmpfs.skipWhy !== null) return;
    h = await startStdio({ dataDir: join(tmpfs.mountPoint, 'data'), args: ['--pool-size', '0'] });
    sid = (await h.sc('create_session', {})).session_id;
    await h.sc('write_file', { session_id: sid, path: 'keep.txt', text: 'precious' });
    expect((await h.sc('backup_current_artifacts', { session_id: sid })).file_count).toBe(1);
  });
  afterAll(async () => {
    await h?.close();
    unmount();
  });

  it('answers disk_full with a hint, keeps what was there, and writes the rows it held once space is back', async (ctx) => {
    if (tmpfs.skipWhy !== null) ctx.skip();
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
    const err = errorOf(backup);
    expect(err.code).toBe('disk_full');
    expect(err.hint).toContain('cleanup_old_backups');
    const write = errorOf(
      await h.call('write_file', { session_id: sid, path: 'new.txt', text: 'x'.repeat(100_000) }),
    );
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

// The remedy every disk_full hint names has to work on the full disk itself: a cleanup's safety backup has no room
// there, so the cleanup goes ahead without it (and says so) instead of answering disk_full too.
describe('cleanup on a full disk', () => {
  const { disk: tmpfs, mount, unmount } = smallDisk(48);
  let h: Harness;
  beforeAll(async () => {
    mount();
    if (tmpfs.skipWhy !== null) return;
    h = await startStdio({ dataDir: join(tmpfs.mountPoint, 'data'), args: ['--pool-size', '0'] });
  });
  afterAll(async () => {
    await h?.close();
    unmount();
  });

  it('cleanup_artifacts, as the hint says, frees the space', async (ctx) => {
    if (tmpfs.skipWhy !== null) ctx.skip();
    const sid = (await h.sc('create_session', {})).session_id;
    const fill = await h.sc('execute', {
      session_id: sid,
      code:
        "f = open('filler.bin', 'wb')\ntry:\n    while True:\n        f.write(b'1' * (1 << 20))\n" +
        'except OSError as e:\n    print(e.errno)\nfinally:\n    f.close()',
    });
    expect(fill.stdout.trim()).toBe('28'); // ENOSPC
    const refused = errorOf(
      await h.call('write_file', { session_id: sid, path: 'x.txt', text: 'x'.repeat(200_000) }),
    );
    expect(refused.code).toBe('disk_full');
    expect(refused.hint).toContain('cleanup_artifacts');

    const cleaned = await h.call('cleanup_artifacts', { session_id: sid });
    expect(cleaned.isError ?? false).toBe(false);
    const sc = cleaned.structuredContent as Record<string, any>;
    expect(sc.removed.map((r: { path: string }) => r.path)).toContain('filler.bin');
    expect(sc.backup).toBeNull();
    expect(sc.backup_skipped).toMatch(/disk is full/);
    const text = cleaned.content.find((c) => c.type === 'text')?.text ?? '';
    expect(text).toMatch(/no backup/);

    // Room again: the write that was refused goes through, and a cleanup with room takes its backup as before.
    const again = await h.call('write_file', { session_id: sid, path: 'x.txt', text: 'x'.repeat(200_000) });
    expect(again.isError ?? false).toBe(false);
    const second = (await h.sc('cleanup_artifacts', { session_id: sid })) as Record<string, any>;
    expect(second.backup).toEqual(expect.any(String));
    expect(second.backup_skipped).toBeUndefined();
  });
});
