// End-to-end: sessions across restarts (and what a killed server left half written), ownership between HTTP tokens,
// calls that count as use, and running without the box backend (bubblewrap, or the Docker engine).
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boxCgroupDirs, liveBoxCgroupCount } from './box-cgroups.js';
import { TEST_BACKEND, connectHttp, errorOf, startHttpProcess, startStdio } from './harness.js';
import { until } from './until.js';

describe('session lifecycle', () => {
  it('keeps sessions and workspaces across a server restart and says the Python state restarted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-restart-'));
    const first = await startStdio({ dataDir });
    const s = await first.sc('create_session', { name: 'keep' });
    await first.sc('execute', {
      code: 'open("note.txt", "w").write("kept")\nv = 1',
      session_id: s.session_id,
    });
    await first.close({ keepData: true });
    // What a server killed while saving a long output leaves behind, next to a file of the user's own.
    const outputs = join(dataDir, 'sessions', s.session_id, 'workspace', '.sandbox', 'outputs');
    mkdirSync(outputs, { recursive: true });
    const stale = join(outputs, '.sbx-0123456789abcdef.tmp');
    writeFileSync(stale, 'half an output');
    writeFileSync(join(outputs, 'mine.tmp'), 'kept');
    utimesSync(stale, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    // And the folder of a warm-pool box that never became a session.
    const orphan = join(dataDir, 'sessions', 's_AAAAAAAAAAAAAAAAAAAAAA');
    mkdirSync(join(orphan, 'workspace'), { recursive: true });
    writeFileSync(join(orphan, 'workspace', 'x.txt'), 'x');

    const second = await startStdio({ dataDir });
    try {
      // the start-up sweep announces nothing: its results are awaited on disk
      await until(() => !existsSync(stale), 'the half-written output to be removed');
      expect(existsSync(join(outputs, 'mine.tmp'))).toBe(true);
      await until(() => !existsSync(orphan), "the pooled box's folder to be removed");
      const list = await second.sc('list_sessions');
      expect(list.sessions.map((x: any) => x.session_id)).toContain(s.session_id);
      const r = await second.sc('execute', { code: 'open("note.txt").read()', session_id: s.session_id });
      expect(r.result['text/plain']).toBe("'kept'");
      expect(r.notices.join(' ')).toMatch(/restarted/);
      const again = await second.sc('execute', { code: '1', session_id: s.session_id });
      expect(again.notices).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it("rejects HTTP calls without the right token and hides other tokens' sessions", async () => {
    const tokenA = 'token-a-0123456789abcdef';
    const tokenB = 'token-b-0123456789abcdef';
    const proc = await startHttpProcess({ token: `${tokenA},${tokenB}` });
    const connect = (token: string) => connectHttp(proc.url, token);
    try {
      const none = await fetch(proc.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(none.status).toBe(401);
      const wrong = await fetch(proc.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-token-wrong-token' },
        body: '{}',
      });
      expect(wrong.status).toBe(401);
      const a = await connect(tokenA);
      const b = await connect(tokenB);
      const created = (await a.callTool({ name: 'create_session', arguments: {} })).structuredContent as any;
      const fromB = await b.callTool({
        name: 'execute',
        arguments: { code: '1', session_id: created.session_id },
      });
      expect(fromB.isError).toBe(true);
      expect(errorOf(fromB).code).toBe('not_found');
      const listB = (await b.callTool({ name: 'list_sessions', arguments: {} })).structuredContent as any;
      expect(listB.sessions.map((x: any) => x.session_id)).not.toContain(created.session_id);
      // Each token has its own default session.
      await a.callTool({ name: 'execute', arguments: { code: 'who = "a"' } });
      const whoB = await b.callTool({ name: 'execute', arguments: { code: 'who' } });
      expect(errorOf(whoB).details.ename).toBe('NameError');
      await a.close();
      await b.close();
    } finally {
      await proc.stop();
      rmSync(proc.dataDir, { recursive: true, force: true });
    }
  });

  it('counts shell and file calls as use: a session driven without execute keeps running', async () => {
    const h = await startStdio({ args: ['--idle-ttl', '2'] });
    try {
      const s = await h.sc('create_session', {});
      // Twice the TTL of calls that are not execute, a call every 0.7 s.
      for (let i = 0; i < 6; i++) {
        await h.sc(i % 2 ? 'shell_execute' : 'write_file', {
          session_id: s.session_id,
          ...(i % 2 ? { command: 'ls' } : { path: `f${i}.txt`, text: 'x' }),
        });
        await new Promise((r) => setTimeout(r, 700));
      }
      // Its processes were never stopped (idle reaping is covered in reaper.test.ts).
      const listed = (await h.sc('list_sessions', {})).sessions as Array<{
        session_id: string;
        running: boolean;
      }>;
      expect(listed.find((x) => x.session_id === s.session_id)?.running).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('ends calls still queued when their session closes as not_found, and leaves no box behind', async () => {
    const h = await startStdio();
    try {
      const s = await h.sc('create_session', {});
      await h.sc('execute', { code: '1', session_id: s.session_id });
      // The running cell's output comes back as progress (after its first second): then it is surely running.
      let started!: () => void;
      const running = h.call(
        'execute',
        {
          code: 'import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.1)',
          session_id: s.session_id,
        },
        { onprogress: () => started() },
      );
      const queued = h.call('execute', { code: '2', session_id: s.session_id });
      await new Promise<void>((r) => (started = r));
      // Its box has its cgroup folders (v1: memory and pids; v2: one): the check below can see one left behind.
      expect(boxCgroupDirs(s.session_id)).toHaveLength(liveBoxCgroupCount());
      await h.sc('close_session', { session_id: s.session_id });
      await running;
      const r = await queued;
      expect(errorOf(r).code).toBe('not_found');
      // Nothing was started for the closed session: its cgroup is gone, and starting another box does not bring it back.
      expect(boxCgroupDirs(s.session_id)).toEqual([]);
      const other = await h.sc('create_session', {});
      await h.sc('execute', { code: '3', session_id: other.session_id });
      expect(boxCgroupDirs(s.session_id)).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('refuses to run code without its box backend unless isolation is none, which every result states', async () => {
    // bubblewrap missing; on Docker, an engine that does not answer
    const missing: Record<string, string> =
      TEST_BACKEND === 'docker'
        ? { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }
        : { SANDBOX_MCP_BWRAP: '/nonexistent/bwrap' };
    const refused = await startStdio({ env: missing });
    try {
      const res = await refused.call('execute', { code: '1' });
      expect(res.isError).toBe(true);
      expect(errorOf(res).code).toBe('isolation_unavailable');
    } finally {
      await refused.close();
    }
    const open = await startStdio({
      args: ['--isolation', 'none'],
      env: missing,
    });
    try {
      const sc = await open.sc('execute', { code: '2 + 2' });
      expect(sc.result['text/plain']).toBe('4');
      expect(sc.isolation).toBe('none');
      expect(sc.notices.join(' ')).toMatch(/isolation is off/);
      const shell = await open.sc('shell_execute', { command: 'echo hi' });
      expect(shell.notices.join(' ')).toMatch(/this command ran without a sandbox/);
    } finally {
      await open.close();
    }
  });
});
