// End-to-end: a shell command's timeout or cancel kills every process it started, daemons included (double fork and
// setsid, a loop that keeps forking during the kill), while an ordinary end leaves its background processes running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

// Forks, starts a new session, forks again to run `sleep <n>` (re-parented away from the command), then waits.
const DAEMONIZE = (n: number, then: string) =>
  `python3 -c "import os,time
if os.fork()==0:
    os.setsid()
    if os.fork()==0:
        os.execvp('sleep',['sleep','${n}'])
    os._exit(0)
${then}"`;

// Ignores SIGTERM (and so do the sleeps it leaves, which inherit that), and keeps starting setsid'ed daemons.
const FORKER = `import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open('forker.started', 'w').close()
while True:
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp('sleep', ['sleep', '7772'])
            os._exit(0)
        os.wait()
    except OSError:
        pass
    time.sleep(0.03)
`;

describe('shell_execute: a stopped command takes every process it started with it', () => {
  let h: Harness;
  let sessionId: string;
  beforeAll(async () => {
    h = await startStdio();
    sessionId = (await h.sc('create_session', { name: 'orphans' })).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  const shc = async (command: string, extra: Record<string, unknown> = {}) =>
    (await h.call('shell_execute', { session_id: sessionId, command, ...extra })).structuredContent as Record<
      string,
      any
    >;
  /** The command lines of the box's processes that start with prefix (zombies show as `[name] <defunct>`). */
  const running = async (prefix: string) => {
    const ps = await shc('ps -eo args');
    expect(ps.exit_code).toBe(0);
    return ps.stdout.split('\n').filter((l: string) => l.startsWith(prefix));
  };

  it('kills a double-forked, setsid daemon at the timeout, and says so truly', async () => {
    const t0 = Date.now();
    const r = await shc(DAEMONIZE(7771, 'time.sleep(100)'), { timeout: 2 });
    expect(r.status).toBe('timeout');
    expect(r.error.message).toContain('every process it started were killed');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await running('sleep 7771')).toEqual([]);
  });

  it.each([
    ['the shell ends at the SIGTERM', 'python3 forker.py'],
    [
      'the shell ignores it too, so the kill comes after the grace period',
      "trap '' TERM; python3 forker.py; true",
    ],
  ])('kills a loop that ignores SIGTERM and keeps starting daemons (%s)', async (_, command) => {
    const written = await h.call('write_file', { session_id: sessionId, path: 'forker.py', text: FORKER });
    expect(written.isError ?? false).toBe(false);
    await shc('rm -f forker.started');
    const r = await shc(command, { timeout: 1 });
    expect(r.status).toBe('timeout');
    expect(await running('sleep 7772')).toEqual([]);
    expect(await running('python3 forker.py')).toEqual([]);
    // It did run (and so started daemons) before it was stopped.
    expect((await shc('ls forker.started')).exit_code).toBe(0);
  });

  it('kills the daemon of a cancelled command too', async () => {
    const abort = new AbortController();
    const call = h.call(
      'shell_execute',
      {
        session_id: sessionId,
        command: DAEMONIZE(7774, "open('cancel.started','w').close()\ntime.sleep(100)"),
      },
      { signal: abort.signal },
    );
    call.catch(() => undefined);
    let started = false;
    for (let i = 0; i < 300 && !started; i++) {
      const read = await h.call('read_file', { session_id: sessionId, path: 'cancel.started' });
      started = !read.isError;
      if (!started) await new Promise((r) => setTimeout(r, 100));
    }
    // the daemon exists before the cancel, else its absence afterwards proves nothing
    expect(started).toBe(true);
    abort.abort('stop');
    await expect(call).rejects.toThrow();
    expect(await running('sleep 7774')).toEqual([]);
  });

  it('leaves a daemon running when the command ends by itself', async () => {
    const r = await shc(DAEMONIZE(7773, 'time.sleep(0.2)'), { timeout: 20 });
    expect(r).toMatchObject({ status: 'ok', exit_code: 0 });
    expect(await running('sleep 7773')).toEqual(['sleep 7773']);
    expect((await shc('kill $(pgrep -x -f "sleep 7773")')).exit_code).toBe(0);
  });

  it("reports the shell's own exit code and signal", async () => {
    expect(await shc('exit 7')).toMatchObject({ status: 'ok', exit_code: 7, signal: null });
    expect(await shc('kill -TERM $$')).toMatchObject({ status: 'ok', exit_code: null, signal: 15 });
    expect(await shc('kill 0; sleep 5')).toMatchObject({ status: 'ok', exit_code: null, signal: 15 });
    expect(await shc('kill -SEGV $$')).toMatchObject({ status: 'ok', exit_code: null, signal: 11 });
    expect((await shc('ls core* 2>/dev/null | wc -l')).stdout).toBe('0\n');
  });

  it("keeps the process it runs under out of the command's own pgrep and pkill", async () => {
    // Only the shell itself has the marker on its command line, and no process of the session is named python3.
    const r = await shc(
      'pgrep -c -s 0 python3; pgrep -c -s 0 -f marker-4711; pkill -s 0 -x python3; echo done',
    );
    expect(r).toMatchObject({ status: 'ok', exit_code: 0, stdout: '0\n1\ndone\n' });
  });

  it('refuses a NUL in the command with invalid_argument, and the session keeps its state', async () => {
    await h.sc('execute', { session_id: sessionId, code: 'kept = 5' });
    const r = await h.call('shell_execute', { session_id: sessionId, command: 'echo a\u0000b' });
    expect(r.isError).toBe(true);
    expect(errorOf(r)).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/NUL/) });
    const after = await h.sc('execute', { session_id: sessionId, code: 'kept' });
    expect(after.result['text/plain']).toBe('5');
  });

  it('runs a command that starts with a dash as a command, not as options of the shell', async () => {
    expect(await shc('-x')).toMatchObject({
      status: 'ok',
      exit_code: 127,
      stderr: expect.stringMatching(/-x: not found/),
    });
  });
});
