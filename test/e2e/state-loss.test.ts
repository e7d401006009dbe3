// End-to-end: every loss of Python state (a kernel killed while idle or busy, a box killed, a server restart) shows
// on the session's next result, in state_preserved / kernel_restarted and a notice, and the execution count starts
// over as Jupyter's does. The kills come from outside, as the host's OOM killer or an operator would send them.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxCgroupDirs } from './box-cgroups.js';
import { errorOf, startStdio, type Harness } from './harness.js';
import { until } from './until.js';

/** Host pids of a session's box: its processes are in the box's own cgroup. */
function boxPids(sessionId: string): number[] {
  const [dir] = boxCgroupDirs(sessionId);
  if (!dir) throw new Error(`no cgroup for ${sessionId}`);
  return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

const kernelPid = (sessionId: string) => boxPids(sessionId).find((p) => cmdline(p).includes('kernel.py'));

/** SIGKILLs the session's Python kernel from the host and waits until the agent has started the next one. */
async function killKernel(sessionId: string): Promise<void> {
  const pid = kernelPid(sessionId);
  if (pid === undefined) throw new Error(`no kernel among ${boxPids(sessionId).map(cmdline).join(' | ')}`);
  process.kill(pid, 'SIGKILL');
  // the agent reports the exit and starts the next kernel on its own
  await until(() => !existsSync(`/proc/${pid}`), `kernel ${pid} to exit`, 5000, 20);
  await until(() => (kernelPid(sessionId) ?? pid) !== pid, 'the next kernel to start', 10_000, 20);
}

/** The flags and notices of a result that must report lost state, and its count starting over. */
function expectLost(sc: Record<string, any>, notice: RegExp): void {
  expect(sc.state_preserved).toBe(false);
  expect(sc.kernel_restarted).toBe(true);
  expect(sc.notices.join(' ')).toMatch(notice);
}

describe('Python state loss is always reported', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id as string;
  });
  afterAll(async () => {
    await h.close();
  });

  it('a kernel killed while idle: the next result says so and counts from 1', async () => {
    for (const round of [1, 2, 3]) {
      await h.sc('execute', { session_id: sid, code: 'x = 1' });
      const second = await h.sc('execute', { session_id: sid, code: 'x += 1' });
      expect(second.execution_count).toBe(round === 1 ? 2 : 4);
      expect(second.state_preserved).toBe(true);
      await killKernel(sid);
      if (round === 3) {
        // A shell call in between shows the notice too; the execute after it still reports the loss.
        const sh = await h.sc('shell_execute', { session_id: sid, command: 'true' });
        expect(sh.notices.join(' ')).toMatch(/Python process ended since the last call/);
      }
      const r = await h.call('execute', { session_id: sid, code: 'x' });
      const sc = r.structuredContent as Record<string, any>;
      expect(errorOf(r).details.ename).toBe('NameError');
      expectLost(sc, /Python process ended since the last call/);
      expect(sc.execution_count).toBe(1);
      const next = await h.sc('execute', { session_id: sid, code: '1' });
      expect(next.state_preserved).toBe(true);
      expect(next.kernel_restarted).toBe(false);
      expect(next.notices).toEqual([]);
      expect(next.execution_count).toBe(2);
    }
  });

  it('a kernel killed during a call: that result says so, with a notice, and the next call counts from 1', async () => {
    await h.sc('execute', { session_id: sid, code: 'y = 1' });
    // The cell's output comes back as progress once it has run a second: it is surely running then.
    let started!: () => void;
    const running = h.call(
      'execute',
      {
        session_id: sid,
        code: 'import time\nfor i in range(200):\n    print(i, flush=True)\n    time.sleep(0.1)',
      },
      { onprogress: () => started() },
    );
    await new Promise<void>((r) => (started = r));
    await killKernel(sid);
    const sc = (await running).structuredContent as Record<string, any>;
    expect(sc.status).toBe('killed');
    expectLost(sc, /restarted during this call/);
    const next = await h.call('execute', { session_id: sid, code: 'y' });
    expect(errorOf(next).details.ename).toBe('NameError');
    expect((next.structuredContent as any).execution_count).toBe(1);
    expect((next.structuredContent as any).state_preserved).toBe(true);
    expect((next.structuredContent as any).notices).toEqual([]);
  });

  it('a box killed while idle: the next call starts a new one and says the state was reset', async () => {
    await h.sc('execute', { session_id: sid, code: 'z = 1' });
    for (const pid of boxPids(sid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone with the ones killed before it
      }
    }
    // the server sees its box exit (list_sessions then shows the session not running)
    await until(
      async () => {
        const listed = (await h.sc('list_sessions', {})).sessions as Array<Record<string, any>>;
        return listed.find((x) => x.session_id === sid)?.running === false;
      },
      'the server to see the box gone',
      10_000,
    );
    const r = await h.call('execute', { session_id: sid, code: 'z' });
    expect(errorOf(r).details.ename).toBe('NameError');
    const sc = r.structuredContent as Record<string, any>;
    expectLost(sc, /sandbox had stopped and was restarted/);
    expect(sc.execution_count).toBe(1);
  });
});

describe('server restart', () => {
  it("the first result's flags agree with its notice", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-state-'));
    const first = await startStdio({ dataDir });
    const s = await first.sc('create_session', {});
    await first.sc('execute', { session_id: s.session_id, code: 'open("f.txt", "w").write("kept")\nv = 1' });
    await first.sc('execute', { session_id: s.session_id, code: 'v += 1' });
    const before = await first.sc('list_sessions', {});
    await first.close({ keepData: true });

    const second = await startStdio({ dataDir });
    try {
      const r = await second.call('execute', { session_id: s.session_id, code: 'v' });
      const sc = r.structuredContent as Record<string, any>;
      expect(errorOf(r).details.ename).toBe('NameError');
      expectLost(sc, /server restarted/);
      expect(sc.execution_count).toBe(1);
      const again = await second.sc('execute', { session_id: s.session_id, code: 'open("f.txt").read()' });
      expect(again.result['text/plain']).toBe("'kept'");
      expect(again.state_preserved).toBe(true);
      expect(again.notices).toEqual([]);
      expect(again.execution_count).toBe(2);
      // list_sessions counts calls ever made, across the restart.
      const listed = (await second.sc('list_sessions', {})).sessions as Array<Record<string, any>>;
      const callsBefore = before.sessions.find((x: any) => x.session_id === s.session_id).execution_count;
      expect(listed.find((x) => x.session_id === s.session_id)?.execution_count).toBe(callsBefore + 2);
    } finally {
      await second.close();
    }
  });
});
