// Two servers on one data dir (a client's second window starts a second stdio server): the second serves an instance
// folder of its own and touches nothing of the first one's (its warm pool, its sessions); a second `serve` refuses at
// once, naming the owner's pid and how to pick another data dir; the claim ends with its process, kill -9 included.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, baseEnv, startHttpProcess, startStdio, type Harness } from './harness.js';
import { until } from './until.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sessionDirs = (dataDir: string): string[] => {
  try {
    return readdirSync(join(dataDir, 'sessions')).sort();
  } catch {
    return [];
  }
};

/** Runs `sandbox-mcp serve` on the data dir and collects how it ends (it should not start). */
function serveOnce(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--token', 'x'.repeat(32), '--data-dir', dataDir],
    {
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe('two servers on one data dir', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-owner-'));
  const open: Harness[] = [];
  afterAll(async () => {
    for (const h of open) await h.close({ keepData: true }).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a second stdio server serves its own instance folder and leaves the first one whole', async () => {
    const a = await startStdio({ dataDir, args: ['--pool-size', '1'] });
    open.push(a);
    const first = await a.sc('execute', { code: 'x = "window one"\nx' });
    expect(first.result['text/plain']).toBe("'window one'");
    const aDefault = first.session_id as string;
    // The first server's warm pool has a folder of its own beside its default session.
    const before = await until(() => {
      const d = sessionDirs(dataDir);
      return d.length >= 2 && d;
    }, "the pooled box's folder beside the default session's");

    const b = await startStdio({ dataDir, args: ['--pool-size', '1'] });
    open.push(b);
    const second = await b.sc('execute', { code: 'y = "window two"\nglobals().get("x")' });
    expect(second.status).toBe('ok');
    expect(second.session_id).not.toBe(aDefault);
    expect(second.result?.['text/plain'] ?? 'None').toBe('None');
    const instance = join(dataDir, 'instances', '2');
    expect(existsSync(join(instance, 'sessions', second.session_id))).toBe(true);

    await sleep(1500); // the second server's start-up sweep has long run by now
    for (const id of before) expect(existsSync(join(dataDir, 'sessions', id))).toBe(true);
    // The first window's pooled box still works, and its default session kept its state.
    const made = (await a.sc('create_session', {})).session_id as string;
    expect(before).toContain(made);
    expect((await a.sc('execute', { session_id: made, code: '1 + 1' })).result['text/plain']).toBe('2');
    expect((await a.sc('execute', { code: 'x' })).result['text/plain']).toBe("'window one'");
    expect((await a.sc('list_sessions', {})).sessions.map((s: any) => s.session_id)).not.toContain(
      second.session_id,
    );
  });

  it('a second serve refuses at once, naming the owner and how to choose another data dir', async () => {
    const t0 = Date.now();
    const r = await serveOnce(dataDir);
    expect(r.code).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const pid = Number(/pid (\d+)/.exec(r.stderr)?.[1]);
    expect(pid, r.stderr).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(dataDir);
    expect(r.stderr).toContain('--data-dir');
    expect(r.stderr).toContain('SANDBOX_MCP_HOME');
  });

  it('the claim ends with its process: after kill -9 the next server serves the data dir itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-owner-'));
    try {
      const killed = await startHttpProcess({ dataDir: dir });
      killed.child.kill('SIGKILL');
      await new Promise((r) => killed.child.once('exit', r));
      const next = await startHttpProcess({ dataDir: dir });
      await next.stop();
      expect(existsSync(join(dir, 'instances'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
