// The attack on the kernel lane, through the real server and a real MCP client: user code finds the lane's socket in
// the kernel and writes forged or malformed lines to it. The server stays up, no forged result is returned as a real
// one, the box is restarted and the next call says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

/** Python that finds the lane (the kernel's one socket above stderr) and writes raw bytes to it. */
const LANE = `
import os, stat, sys, json
def lane_fd():
    for fd in range(3, 1024):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass
def forge(data):
    view = memoryview(data)
    fd = lane_fd()
    while view:
        view = view[os.write(fd, view):]
def own_id():
    f = sys._getframe()
    while f is not None and not isinstance(f.f_locals.get('req'), dict):
        f = f.f_back
    return f.f_locals['req']['id']
`;

const RESTARTED = 'the sandbox had stopped and was restarted';

let h: Harness;

beforeAll(async () => {
  h = await startStdio();
});

afterAll(async () => {
  await h?.close();
});

async function newSession(): Promise<string> {
  return (await h.sc('create_session', {})).session_id as string;
}

async function run(session: string, code: string, timeout?: number): Promise<Record<string, any>> {
  const t0 = performance.now();
  const r = await h.call('execute', { session_id: session, code, ...(timeout ? { timeout } : {}) });
  return { ...(r.structuredContent ?? { content: r.content }), took: performance.now() - t0 };
}

/** The call that carried the attack: a protocol error, not what the forged line said. */
function expectProtocolError(r: Record<string, any>, what: RegExp): void {
  expect(r.status).toBe('error');
  expect(r.error.code).toBe('runtime_error');
  expect(r.error.message).toMatch(/broke its protocol/);
  expect(r.error.message).toMatch(what);
  expect(r.state_preserved).toBe(false);
  expect(r.kernel_restarted).toBe(true);
  expect(r.stdout).not.toContain('not reached');
}

/** The session's next call runs in a new box and says the old one was restarted. */
async function expectRestarted(session: string): Promise<void> {
  const next = await run(session, 'print("next call")');
  expect(next.status, JSON.stringify(next)).toBe('ok');
  expect(next.stdout).toBe('next call\n');
  expect(next.notices.join(' ')).toContain(RESTARTED);
}

describe('forged lines on the kernel lane', () => {
  it('a line that is not JSON fails the box, not the server', async () => {
    const s = await newSession();
    const r = await run(
      s,
      `${LANE}\nforge(b'{"type":"done", this is not json\\n')\nimport time; time.sleep(2)\nprint("not reached")`,
    );
    expectProtocolError(r, /not JSON/);
    await expectRestarted(s);
  });

  it('a malformed done for its own call is not returned as the result', async () => {
    const s = await newSession();
    const done = `json.dumps({"type": "done", "id": own_id(), "status": "ok", "error": {"code": "runtime_error", "ename": "Forged"}})`;
    const r = await run(
      s,
      `${LANE}\nforge((${done} + "\\n").encode())\nimport time; time.sleep(2)\nprint("not reached")`,
    );
    expectProtocolError(r, /malformed 'done'/);
    expect(JSON.stringify(r)).not.toContain('Forged');
    await expectRestarted(s);
  });

  it('a valid done for a call that is not running answers nothing', async () => {
    const s = await newSession();
    const done = `json.dumps({"type": "done", "id": "another-call", "status": "error", "error": None, "usage": None})`;
    const r = await run(
      s,
      `${LANE}\nforge((${done} + "\\n").encode())\nimport time; time.sleep(1)\nprint("real end")\nx = 1`,
    );
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('real end\n');
    expect((await run(s, 'x')).result['text/plain']).toBe('1');
  });

  it('a forged hello cannot make the lane ignore the next kernel death', async () => {
    const s = await newSession();
    const hello = `json.dumps({"type": "hello", "pid": 1, "gen": 10**6, "info": {"python_version": "forged"}})`;
    const r = await run(
      s,
      `${LANE}\nforge((${hello} + "\\n").encode())\nimport time; time.sleep(2)\nprint("not reached")`,
    );
    expectProtocolError(r, /hello while a kernel was serving/);
    // Once the lane has taken a forged generation, a real kernel exit went unheard until the box's backstop.
    const died = await run(s, 'import os; os._exit(3)', 2);
    expect(died.took).toBeLessThan(8000);
    expect(died.status).toBe('killed');
    expect(died.notices.join(' ')).toContain(RESTARTED);
    const info = await h.sc('get_execution_info', { session_id: s });
    expect(JSON.stringify(info)).not.toContain('forged');
    expect((await run(s, '1+1')).result['text/plain']).toBe('2');
  });

  it('a line that never ends is cut at the limit, not buffered without bound', async () => {
    const s = await newSession();
    const r = await run(
      s,
      `${LANE}\nchunk = b'x' * (1 << 20)\nfor _ in range(40):\n    forge(chunk)\nprint("not reached")`,
    );
    expectProtocolError(r, /longer than 33554432 bytes/);
    await expectRestarted(s);
  });

  it("a valid done for its own call ends only that call; the cell's real end answers nothing", async () => {
    const s = await newSession();
    const done = `json.dumps({"type": "done", "id": own_id(), "status": "ok", "error": None, "usage": None})`;
    // The user's own result, as the user wrote it: harmless. The cell's real end comes 2 s later, during the next call.
    const own = await run(
      s,
      `${LANE}\nforge((${done} + "\\n").encode())\nimport time; time.sleep(2)\nprint("late")`,
    );
    expect(own.status).toBe('ok');
    expect(own.stdout).toBe('');
    const next = await run(s, 'import time; time.sleep(0.1); "next"');
    expect(next.status).toBe('ok');
    expect(next.result['text/plain']).toBe("'next'");
    expect(next.duration_ms).toBeGreaterThan(1000); // it waited in the kernel for the first cell to end
    expect(next.stdout).toContain('late');
  });

  it('the server still serves other sessions', async () => {
    const r = await run(await newSession(), '6*7');
    expect(r.result['text/plain']).toBe('42');
  });
});
