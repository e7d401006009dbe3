// The server as most users run it, an ordinary user: a suite running as root creates one and checks the jail holds and the tools work.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, backend, errorOf, startStdio, type Harness } from './harness.js';
import { until } from './until.js';

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

// Attack: on a host where this user can make no memory or pids cgroup (cgroup v1 without delegation), a session's
// memory_mb and the process limit must still hold (rlimits inside the box stand in) and the user must be told so.
describe.skipIf(!isRoot)('the limits of a server run by an ordinary user', () => {
  let h: Harness;
  let dataDir: string;
  let stderrFile: string;

  beforeAll(async () => {
    const user = ensureUser();
    dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-user-limits-'));
    chownSync(dataDir, user.uid, user.gid);
    stderrFile = join(dataDir, 'server.stderr');
    h = await startStdio({
      dataDir,
      runAs: { ...user, groups: engineGroups() },
      env: { HOME: dataDir },
      args: ['--pids', '64', '--memory-mb', '1024'],
      // the server's log, kept to read its start-up warning (opened by root before setpriv drops to the user)
      wrapper: ['/bin/sh', '-c', 'exec "$@" 2>>"$0"', stderrFile],
    });
  }, 120_000);
  afterAll(async () => {
    await h?.close({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stops a fork loop near the process limit of 64', async () => {
    const s = await h.sc('create_session', {});
    const r = await h.sc('execute', {
      session_id: s.session_id,
      code: `
import os, time
kids = []
try:
    for _ in range(300):
        pid = os.fork()
        if pid == 0:
            time.sleep(30); os._exit(0)
        kids.append(pid)
except OSError as e:
    print('stopped', e.errno)
print('forked', len(kids))
for k in kids: os.kill(k, 9)
for k in kids: os.waitpid(k, 0)`,
    });
    expect(r.status, JSON.stringify(r.error)).toBe('ok');
    const forked = Number(/forked (\d+)/.exec(r.stdout)?.[1]);
    expect(r.stdout).toContain('stopped 11'); // EAGAIN
    expect(forked).toBeGreaterThan(30);
    expect(forked).toBeLessThan(64);
  }, 120_000);

  it('refuses a 600 MiB allocation in a session of memory_mb 256 as memory_limit, and plots under it', async () => {
    const s = await h.sc('create_session', { memory_mb: 256 });
    const big = await h.sc('execute', {
      session_id: s.session_id,
      code: 'b = [bytearray(2**20) for _ in range(600)]\nprint("allocated", len(b), "MiB")',
    });
    expect(big.stdout).not.toContain('allocated');
    expect(big.status).toBe('memory_limit');
    expect(big.error.code).toBe('memory_limit');
    expect(big.error.details.memory_limit_mb).toBe(256);
    // numpy, pandas and matplotlib still work under the limit
    const plot = await h.sc('execute', {
      session_id: s.session_id,
      code: `
import numpy as np, pandas as pd, matplotlib.pyplot as plt
df = pd.DataFrame(np.random.rand(200, 3))
print((np.random.rand(300, 300) @ np.random.rand(300, 300)).shape)
df.plot(); plt.savefig('p.png'); print('plotted')`,
    });
    expect(plot.status, JSON.stringify(plot.error)).toBe('ok');
    expect(plot.stdout).toContain('plotted');
  }, 120_000);

  it('says at start and at create_session which limits no cgroup enforces and what stands in', async () => {
    const s = await h.sc('create_session', { memory_mb: 128 });
    const info = await h.sc('get_execution_info', { session_id: s.session_id });
    const lim = await h.sc('get_sandbox_limitations', { session_id: s.session_id });
    const memory = lim.limits.find((l: { name: string }) => l.name === 'memory');
    expect(memory.enforced_by).toBe(info.isolation.memory_limit);
    const notices = (s.notices as string[]).join('\n');
    if (info.isolation.memory_limit === 'cgroup') expect(notices).not.toMatch(/memory limit/);
    else {
      expect(info.isolation.memory_limit).toMatch(/RLIMIT_DATA per process/);
      expect(notices).toMatch(/memory limit is not enforced by a cgroup.*128 MiB.*RLIMIT_DATA per process/);
    }
    if (info.isolation.pids_limit === 'cgroup') expect(notices).not.toMatch(/process limit/);
    else {
      expect(info.isolation.pids_limit).toMatch(/RLIMIT_NPROC/);
      expect(notices).toMatch(/process limit is not enforced by a cgroup.*64.*RLIMIT_NPROC/);
    }
    if (notices === '') return;
    await until(
      () => /memory limit|process limit/.test(readFileSync(stderrFile, 'utf8')),
      'the start-up warning',
      10_000,
    );
    const log = readFileSync(stderrFile, 'utf8');
    if (info.isolation.memory_limit !== 'cgroup') expect(log).toMatch(/1024 MiB is RLIMIT_DATA per process/);
    if (info.isolation.pids_limit !== 'cgroup') expect(log).toMatch(/64 is RLIMIT_NPROC/);
  }, 120_000);
});
