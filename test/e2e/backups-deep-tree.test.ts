// A workspace tree deeper than PATH_MAX (3,000 folders): a backup keeps its file, and a rollback to that backup
// restores it (staged through folder descriptors); no answer shows a host path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

const LEVELS = 3000;

const BUILD = `import os
cur = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
os.mkdir('deep', dir_fd=cur)
nxt = os.open('deep', os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur); os.close(cur); cur = nxt
for i in range(${LEVELS}):
    os.mkdir('a', dir_fd=cur)
    nxt = os.open('a', os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur); os.close(cur); cur = nxt
f = os.open('leaf.txt', os.O_CREAT | os.O_WRONLY, 0o640, dir_fd=cur); os.write(f, b'leaf'); os.close(f)
os.close(cur)`;

/** The leaf's content and mode, read through descriptors, and what the workspace's top level holds. */
const READ_LEAF = `import os, stat
cur = os.open('deep', os.O_RDONLY | os.O_DIRECTORY)
for i in range(${LEVELS}):
    nxt = os.open('a', os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur); os.close(cur); cur = nxt
f = os.open('leaf.txt', os.O_RDONLY, dir_fd=cur)
out = (os.read(f, 100).decode(), oct(stat.S_IMODE(os.fstat(f).st_mode)), sorted(os.listdir('.')))
os.close(f); os.close(cur)
out`;

describe('a tree deeper than PATH_MAX', () => {
  let h: Harness;
  let sid: string;
  const texts: string[] = [];
  const ok = async (name: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> => {
    const r = await h.call(name, { session_id: sid, ...args }, { timeout: 120_000 });
    texts.push(JSON.stringify(r));
    expect(r.isError ? errorOf(r) : null).toBeNull();
    return r.structuredContent as Record<string, any>;
  };

  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id as string;
  }, 60_000);
  afterAll(async () => {
    // The server removes the tree (through descriptors); a recursive rm in this process would run out of stack.
    await h?.call('close_session', { session_id: sid });
    await h?.close();
  });

  it('is backed up, and a rollback to that backup restores it', async () => {
    expect((await ok('execute', { code: BUILD })).status).toBe('ok');
    const b = await ok('backup_current_artifacts', { backup_name: 'deep' });
    expect(b.file_count).toBe(1);
    expect(b.skipped).toEqual([]);
    await ok('execute', {
      code: 'import shutil, os\nos.rename("deep", "gone")\nopen("x.txt","w").write("x")',
    });
    const r = await ok('rollback_to_backup', { backup_name: 'deep' });
    expect(r.backup).toBe('deep');
    const after = await ok('execute', { code: READ_LEAF });
    expect(after.result['text/plain']).toBe("('leaf', '0o640', ['deep'])");
  }, 300_000);

  it('no answer shows a host path', () => {
    const all = texts.join('\n');
    expect(all).not.toContain(h.dataDir);
    expect(all).not.toMatch(/\/proc\/self\/fd/);
  });
});
