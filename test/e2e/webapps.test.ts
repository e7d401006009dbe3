// End-to-end: web apps run inside the session's box and answer on the host through the relay, in a real browser too;
// they outlive execute timeouts, stop on request and with their session, and a crash comes back with its traceback.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, start, type Harness } from './harness.js';
import { CHROMIUM, withPage } from './webapps-browser.js';

const FLASK = `from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    return '<h1 id="t">flask page</h1><p id="x"></p><script>document.getElementById("x").textContent = "rendered " + (6 * 7)</script>'

@app.route('/data')
def data():
    return {'sum': sum(range(10))}

if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000, debug=True)
`;

const FASTAPI = `from fastapi import FastAPI
api = FastAPI()

@api.get('/items/{n}')
def item(n: int):
    return {'n': n, 'square': n * n}
`;

async function refused(url: string): Promise<string> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(3000) });
    return 'answered';
  } catch (err) {
    return String((err as { cause?: { code?: string } }).cause?.code ?? err);
  }
}

describe('web apps in the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start('stdio');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves a Flask app through the relayed URL, __main__ block and all', async () => {
    const r = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    expect(r.status).toBe('running');
    // The relay's own loopback address, and the app's key: nothing else on this machine opens it.
    expect(r.url).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/sandbox-mcp-key\/[A-Za-z0-9_-]{43}\/$/);
    expect(r.url).toContain(`:${r.host_port}/`);
    expect(r.http_status).toBe(200);
    expect(r.first_logs.join('\n')).toContain('serving Flask app');
    const res = await fetch(new URL('data', r.url));
    expect(await res.json()).toEqual({ sum: 45 });
    // Written into the workspace, so the session's code sees it too.
    const ex = await h.sc('execute', { code: `open('${r.source}').read().count('Flask(')` });
    expect(ex.result['text/plain']).toBe('1');
  });

  if (!existsSync(CHROMIUM)) console.warn(`skipping the Chromium page test: no browser at ${CHROMIUM}`);
  it.skipIf(!existsSync(CHROMIUM))('renders the Flask page in headless Chromium', async () => {
    const r = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    const text = await withPage(async (page) => {
      await page.goto(r.url);
      // The key moved into the relay's cookie and left the address bar.
      await page.waitForURL(`${new URL(r.url).origin}/`);
      await page.waitForFunction(() => document.getElementById('x')?.textContent !== '');
      return [await page.textContent('#t'), await page.textContent('#x')];
    });
    expect(text).toEqual(['flask page', 'rendered 42']);
  });

  it('serves a FastAPI app (auto-detected) next to the others in the same session', async () => {
    const r = await h.sc('start_web_app', { code: FASTAPI });
    expect(r.app_type).toBe('fastapi');
    const res = await fetch(new URL('items/7', r.url));
    expect(await res.json()).toEqual({ n: 7, square: 49 });
    const list = await h.sc('list_web_apps', {});
    const running = list.apps.filter((a: { status: string }) => a.status === 'running');
    expect(running.length).toBeGreaterThanOrEqual(2);
    expect(new Set(running.map((a: { session_id: string }) => a.session_id)).size).toBe(1);
  });

  it('serves a static page', async () => {
    const r = await h.sc('start_web_app', {
      code: '<!doctype html><title>s</title><p>static ok</p>',
      app_type: 'auto',
    });
    expect(r.app_type).toBe('static');
    expect(await (await fetch(r.url)).text()).toContain('static ok');
  });

  it('keeps apps running through an execute timeout, even when the kernel has to be killed', async () => {
    const r = await h.sc('start_web_app', { code: FASTAPI, app_type: 'fastapi' });
    const t1 = await h.sc('execute', { code: 'import time\ntime.sleep(30)', timeout: 1 });
    expect(t1.status).toBe('timeout');
    expect((await fetch(new URL('items/2', r.url))).status).toBe(200);
    // A cell that ignores SIGINT is killed after the grace period, with a sweep of the box.
    const t2 = await h.sc('execute', {
      code: 'import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)',
      timeout: 1,
    });
    expect(t2.kernel_restarted).toBe(true);
    expect((await fetch(new URL('items/3', r.url))).status).toBe(200);
  });

  it('stop_web_app frees the port; the logs stay readable', async () => {
    const r = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    await fetch(new URL('data', r.url));
    const stopped = await h.sc('stop_web_app', { app_id: r.app_id });
    expect(stopped.status).toBe('stopped');
    expect(stopped.url).toBeNull();
    expect(await refused(r.url)).toBe('ECONNREFUSED');
    const logs = await h.sc('get_web_app_logs', { app_id: r.app_id, tail: 50 });
    expect(logs.lines.join('\n')).toContain('GET /data');
    const again = await h.sc('stop_web_app', { app_id: r.app_id });
    expect(again.status).toBe('stopped');
  });

  it('returns the traceback of an app that raises at import', async () => {
    const res = await h.call('start_web_app', {
      code: 'from flask import Flask\nvalue = 1 / 0\napp = Flask(__name__)\n',
      app_type: 'flask',
    });
    expect(res.isError).toBe(true);
    const err = errorOf(res);
    expect(err.code).toBe('runtime_error');
    expect(err.message).toContain('ZeroDivisionError');
    expect(err.details.traceback).toMatch(/app\.py", line 2, in <module>/);
    expect(err.details.traceback).not.toContain('app_launch.py');
    expect(err.details.exit_code).toBe(1);
    expect(err.details.log_tail.length).toBeGreaterThan(0);
  });

  it('reports an app that never answers HTTP, with its log tail', async () => {
    const res = await h.call('start_web_app', {
      code: 'import flask, time\nprint("warming up", flush=True)\ntime.sleep(600)\n',
      app_type: 'flask',
      ready_timeout_s: 2,
    });
    expect(res.isError).toBe(true);
    const err = errorOf(res);
    expect(err.code).toBe('runtime_error');
    expect(err.message).toContain('did not answer HTTP');
    expect(err.details.log_tail).toContain('warming up');
  });

  it("stops a session's apps when the session closes", async () => {
    const s = await h.sc('create_session', {});
    const r = await h.sc('start_web_app', { code: FLASK, app_type: 'flask', session_id: s.session_id });
    expect((await fetch(r.url)).status).toBe(200);
    await h.sc('close_session', { session_id: s.session_id });
    expect(await refused(r.url)).toBe('ECONNREFUSED');
    const list = await h.sc('list_web_apps', { session_id: s.session_id });
    expect(list.apps).toEqual([]);
  });

  it('marks apps stopped when their sandbox dies, and the session starts a fresh one', async () => {
    const s = await h.sc('create_session', {});
    const r = await h.sc('start_web_app', { code: FASTAPI, app_type: 'fastapi', session_id: s.session_id });
    // The kernel kills its own supervisor: the whole box goes, the app with it.
    await h.call('execute', {
      code: 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)',
      session_id: s.session_id,
    });
    // The cell's result can arrive over the kernel lane just before the server has seen the box exit.
    let list = await h.sc('list_web_apps', { session_id: s.session_id });
    for (let i = 0; i < 100 && list.apps[0]?.status === 'running'; i++) {
      await new Promise((wake) => setTimeout(wake, 50));
      list = await h.sc('list_web_apps', { session_id: s.session_id });
    }
    expect(list.apps[0]).toMatchObject({ app_id: r.app_id, status: 'stopped', url: null });
    expect(list.apps[0].stop_reason).toMatch(/sandbox/);
    expect(await refused(r.url)).toBe('ECONNREFUSED');
    const again = await h.sc('start_web_app', {
      code: FASTAPI,
      app_type: 'fastapi',
      session_id: s.session_id,
    });
    expect((await fetch(new URL('items/4', again.url))).status).toBe(200);
    await h.sc('close_session', { session_id: s.session_id });
  });

  it('listens on the host port asked for, and refuses one that is taken', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const r = await h.sc('start_web_app', { code: FASTAPI, app_type: 'fastapi', port });
    expect(r.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.2:${port}/sandbox-mcp-key/`));
    const taken = await h.call('start_web_app', { code: FASTAPI, app_type: 'fastapi', port });
    expect(errorOf(taken).code).toBe('invalid_argument');
    await h.sc('stop_web_app', { app_id: r.app_id });
  });

  it('refuses bad arguments and unknown apps', async () => {
    const noType = await h.call('start_web_app', { code: 'print(1)' });
    expect(errorOf(noType).code).toBe('invalid_argument');
    const unknown = await h.call('stop_web_app', { app_id: 'app-000000000000' });
    expect(errorOf(unknown).code).toBe('not_found');
  });
});
