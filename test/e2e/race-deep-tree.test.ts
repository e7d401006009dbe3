// A workspace nested 1,500 folders deep with 60-character names (a 91 KB path): closing the session removes it, a
// left-over session folder like it is removed by the next start, and a removal that cannot finish is reported.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';
import { until } from './until.js';

const DEEP = `import os
fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
for i in range(1500):
    name = ('d%04d' % i).ljust(60, 'x')
    os.mkdir(name, dir_fd=fd)
    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(os.open('bottom.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
os.close(fd)
`;

/** The start-up sweep removes left-overs in the background, announcing nothing: their folder is awaited on disk. */
const gone = (path: string) => until(() => !existsSync(path), `${path} to be removed`, 10_000);

describe('deep workspace trees', () => {
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
  });

  it('close_session removes a 1,500-level tree with a 91 KB path', async () => {
    h = await startStdio();
    const sid = (await h.sc('create_session', {})).session_id as string;
    const r = await h.sc('execute', { session_id: sid, code: DEEP });
    expect(r.status).toBe('ok');
    const root = join(h.dataDir, 'sessions', sid);
    expect(existsSync(root)).toBe(true);
    const closed = await h.call('close_session', { session_id: sid });
    expect(closed.isError).toBeFalsy();
    expect(existsSync(root)).toBe(false);
  }, 120_000);

  it('the start-up sweep removes a left-over session folder holding such a tree', async () => {
    await h?.close({ keepData: true });
    const dataDir = h!.dataDir;
    const left = join(dataDir, 'sessions', 's_AAAAAAAAAAAAAAAAAAAAAA', 'workspace');
    mkdirSync(left, { recursive: true });
    execFileSync('/usr/bin/python3', ['-c', DEEP], { cwd: left });
    h = await startStdio({ dataDir });
    await h.sc('list_sessions', {});
    await gone(join(dataDir, 'sessions', 's_AAAAAAAAAAAAAAAAAAAAAA'));
  }, 120_000);

  // A folder removal cannot finish: something is mounted inside the workspace (only root can set that up here).
  it.skipIf(process.getuid?.() !== 0)(
    'close_session reports a removal it could not finish, and the next start finishes it',
    async () => {
      const sid = (await h!.sc('create_session', {})).session_id as string;
      await h!.sc('execute', { session_id: sid, code: "import os\nos.makedirs('m/inner')" });
      const root = join(h!.dataDir, 'sessions', sid);
      const mnt = join(root, 'workspace', 'm');
      execFileSync('mount', ['-t', 'tmpfs', 'none', mnt]);
      let mounted = true;
      try {
        writeFileSync(join(mnt, 'not-the-sessions.txt'), 'kept');
        const r = await h!.call('close_session', { session_id: sid });
        expect(r.isError).toBe(true);
        const text = (r.content as Array<{ type: string; text?: string }>)[0]?.text ?? '{}';
        const body = (JSON.parse(text) as { error: { code: string; details: Record<string, unknown> } })
          .error;
        expect(body.code).toBe('internal');
        expect(body.details).toMatchObject({ session_id: sid, closed: true, files_removed: false });
        expect(existsSync(root)).toBe(true);
        expect(readFileSync(join(mnt, 'not-the-sessions.txt'), 'utf8')).toBe('kept');
        const listed = (await h!.sc('list_sessions', {})).sessions as Array<{ session_id: string }>;
        expect(listed.map((s) => s.session_id)).not.toContain(sid);
        execFileSync('umount', [mnt]);
        mounted = false;
        await h!.close({ keepData: true });
        h = await startStdio({ dataDir: h!.dataDir });
        await h.sc('list_sessions', {});
        await gone(root);
      } finally {
        if (mounted) execFileSync('umount', ['-l', mnt]);
      }
    },
    120_000,
  );
});
