// The server as most users run it, an ordinary user: a suite running as root creates one and checks the jail holds and the tools work.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, backend, errorOf, startStdio, type Harness } from './harness.js';

const USER = 'sbx-mcp-user';
const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.log('unprivileged-server: the suite already runs as an ordinary user; nothing more to check here');

function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      USER,
    ]);
  }
  const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** The group of the test engine's socket on the Docker test backend; none on bubblewrap. */
function engineGroups(): number[] {
  const host = backend().env.DOCKER_HOST;
  return host?.startsWith('unix://') ? [statSync(host.slice('unix://'.length)).gid] : [];
}

describe.skipIf(!isRoot)('a server run by an ordinary user', () => {
  let h: Harness;
  let user: { uid: number; gid: number };
  let dataDir: string;

  beforeAll(async () => {
    user = ensureUser();
    dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-user-'));
    chownSync(dataDir, user.uid, user.gid);
    // On Docker an ordinary user reaches the engine as its socket's group (docker) allows, as `usermod -aG docker`
    // would give it; without it the server answers isolation_unavailable naming the socket.
    h = await startStdio({ dataDir, runAs: { ...user, groups: engineGroups() }, env: { HOME: dataDir } });
  }, 120_000);
  afterAll(async () => {
    await h?.close({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs code whose files belong to that user on the host, with /proc/sys closed', async () => {
    const r = await h.sc('execute', {
      code: `
import errno, os
open('/workspace/mine', 'w').write('x')
try:
    os.close(os.open('/proc/sys/kernel/core_pattern', os.O_WRONLY)); print('writable')
except OSError as e: print(errno.errorcode[e.errno])`,
    });
    expect(r.status).toBe('ok');
    expect(r.stdout.trim()).not.toBe('writable');
    const st = statSync(join(dataDir, 'sessions', r.session_id as string, 'workspace', 'mine'));
    expect(st.uid).toBe(user.uid);
  });

  it('keeps the ordinary tools working: write_file, read_file, a plot artifact', async () => {
    const w = await h.call('write_file', { path: 'notes.txt', text: 'hello' });
    expect(w.isError, JSON.stringify(w.content)).toBeFalsy();
    const r = await h.sc('execute', {
      code: "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.savefig('p.png')\nprint(open('notes.txt').read())",
    });
    expect(r.status).toBe('ok');
    expect(r.stdout).toContain('hello');
    const a = await h.call('read_file', { path: 'notes.txt' });
    expect(a.isError).toBeFalsy();
  });

  it.skipIf(TEST_BACKEND !== 'docker')(
    "without the socket's group: isolation_unavailable naming the engine, no code run",
    async () => {
      const otherDir = mkdtempSync(join(dataDir, 'no-group-'));
      chownSync(otherDir, user.uid, user.gid);
      const other = await startStdio({ runAs: user, env: { HOME: dataDir }, dataDir: otherDir });
      try {
        const res = await other.call('execute', { code: '1' });
        expect(res.isError).toBe(true);
        const err = errorOf(res);
        expect(err.code).toBe('isolation_unavailable');
        expect(err.message).toContain(backend().env.DOCKER_HOST);
        expect(err.hint).toMatch(/socket's group/); // the refusal is named, not taken for an engine that is down
      } finally {
        await other.close();
      }
    },
  );
});
