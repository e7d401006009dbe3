// A process in the box holds a write lease (fcntl F_SETLEASE) on a workspace file, so the server cannot open it: every
// tool still answers (the file skipped or listed unread, read_file refused as locked), the cell's result comes back,
// and a rollback to an earlier backup replaces the leased file.
import type { CallToolResult } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

/** Keeps a write lease on /workspace/leased.txt, taking it again every 200 ms; SIGIO (a lease break) is ignored. */
const HOLDER = `import subprocess, sys, time
code = r'''
import fcntl, os, signal, time
signal.signal(signal.SIGIO, signal.SIG_IGN)
fd = os.open('/workspace/leased.txt', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'hello')
while True:
    try:
        fcntl.fcntl(fd, 1024, fcntl.F_WRLCK)
        open('/tmp/lease.ok', 'w').close()
    except OSError:
        pass
    time.sleep(0.2)
'''
subprocess.Popen([sys.executable, '-c', code], start_new_session=True)
import os
for _ in range(100):
    if os.path.exists('/tmp/lease.ok'): break
    time.sleep(0.05)
os.path.exists('/tmp/lease.ok')`;

describe('a leased workspace file', () => {
  let h: Harness;
  let sid: string;
  let good: string;
  const texts: string[] = [];
  /** Every answer, kept to check that none shows a host path. */
  const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> => {
    const r = await h.call(name, { session_id: sid, ...args });
    texts.push(JSON.stringify(r));
    return r;
  };
  const ok = async (name: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> => {
    const r = await call(name, args);
    expect(r.isError ? errorOf(r) : null).toBeNull();
    return r.structuredContent as Record<string, any>;
  };

  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id as string;
    await ok('execute', { code: 'open("keep.txt","w").write("v1")' });
    good = (await ok('backup_current_artifacts')).name as string;
    await ok('execute', { code: 'open("keep.txt","w").write("v2")' });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('the cell that takes the lease, and the next one that writes a file, come back with their results', async () => {
    const took = await ok('execute', { code: HOLDER });
    expect(took.result['text/plain']).toBe('True');
    const next = await ok('execute', { code: 'open("x.txt","w").write("x")\n6 * 7' });
    expect(next.status).toBe('ok');
    expect(next.result['text/plain']).toBe('42');
  });

  it('list_artifacts lists the leased file without a hash', async () => {
    const arts = (await ok('list_artifacts')).artifacts as Array<{ path: string; sha256: string | null }>;
    expect(arts.find((a) => a.path === 'leased.txt')).toMatchObject({ sha256: null });
    expect(arts.map((a) => a.path)).toContain('x.txt');
  });

  it('read_file answers that a process in the box locks the file', async () => {
    const r = await call('read_file', { path: 'leased.txt' });
    expect(r.isError).toBe(true);
    const e = errorOf(r);
    expect(e.code).toBe('invalid_argument');
    expect(e.details).toMatchObject({ path: 'leased.txt', reason: 'locked' });
    expect(e.message).toMatch(/locked by a process in the box/);
  });

  it('a backup skips the leased file and says why', async () => {
    const b = await ok('backup_current_artifacts');
    const skipped = b.skipped as Array<{ path: string; reason: string }>;
    expect(skipped.map((s) => s.path)).toContain('leased.txt');
    expect(skipped.find((s) => s.path === 'leased.txt')?.reason).toMatch(/locked by a process in the box/);
    expect(b.file_count).toBe(2);
  });

  it('rollback to the earlier backup replaces the leased file and restores the rest', async () => {
    const r = await ok('rollback_to_backup', { backup_name: good });
    expect((r.not_backed_up as Array<{ path: string }>).map((s) => s.path)).toContain('leased.txt');
    const after = await ok('execute', {
      code: 'import os\nsorted(os.listdir(".")), open("keep.txt").read()',
    });
    expect(after.result['text/plain']).toBe("(['keep.txt'], 'v1')");
  });

  it('cleanup_artifacts works with the lease held on a new file', async () => {
    expect(
      (await ok('execute', { code: HOLDER.replaceAll('/tmp/lease.ok', '/tmp/lease2.ok') })).result,
    ).toBeTruthy();
    const r = await ok('cleanup_artifacts', { confirm: true });
    expect(r.removed_count).toBeGreaterThan(0);
  });

  it('no answer shows a host path', () => {
    const all = texts.join('\n');
    expect(all).not.toContain(h.dataDir);
    expect(all).not.toMatch(/\/proc\/self\/fd/);
  });
});
