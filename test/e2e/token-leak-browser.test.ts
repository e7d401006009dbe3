// The attack on the HTTP token through a browser: one client signs in to the status page, then opens another client's
// web app, which records every request it gets and sends its visitor to status paths. Nothing the app sees may hold
// the token, the status sign-in or the app's own key, and the status cookie must not open /mcp.
import { existsSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startHttpProcess } from './harness.js';
import { CHROMIUM, withPage } from './webapps-browser.js';

const VICTIM = 'victim-token-' + Math.random().toString(36).slice(2) + '-abcdefgh';
const ATTACKER = 'attacker-token-' + Math.random().toString(36).slice(2) + '-abcdefgh';

/** A Flask app that writes every request it receives (path and headers) to seen.log, and bounces its visitor. */
function spyApp(statusBase: string): string {
  return `from flask import Flask, request, redirect
import json
app = Flask(__name__)

@app.before_request
def record():
    with open('/workspace/seen.log', 'a') as f:
        f.write(json.dumps({'path': request.full_path, 'headers': dict(request.headers)}) + '\\n')

@app.route('/')
def index():
    return ('<p id="c"></p><script>const c = document.cookie; document.getElementById("c").textContent = c;'
            'fetch("/js?c=" + encodeURIComponent(c)).then(() => { document.title = "sent"; });</script>')

@app.route('/js')
def js():
    return 'ok'

@app.route('/status/<path:rest>')
def status(rest):
    return 'cookie: ' + request.headers.get('Cookie', '')

@app.route('/go')
def go():
    return redirect('/status/x')

@app.route('/go-status')
def go_status():
    return redirect(${JSON.stringify(`${statusBase}/status/data`)})
`;
}

/** The victim's app: its page talks to it over a WebSocket, through the relay. */
const WS_APP = `from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse
app = FastAPI()

@app.get('/')
def index():
    return HTMLResponse('<script>const ws = new WebSocket("ws://" + location.host + "/ws");'
                        'ws.onopen = () => ws.send("ping"); ws.onmessage = (e) => { document.title = e.data; };</script>')

@app.websocket('/ws')
async def ws(sock: WebSocket):
    await sock.accept()
    await sock.send_text('victim-secret:' + await sock.receive_text())
`;

/** The attacker's app: its page tries the victim's app (same site, other port) with the victim's cookie. */
function probeApp(target: string): string {
  const script = `const ws = new WebSocket(${JSON.stringify(target.replace(/^http/, 'ws') + '/ws')});
const wsDone = new Promise((r) => {
  ws.onopen = () => ws.send('stolen');
  ws.onmessage = (e) => r('message ' + e.data);
  ws.onerror = () => r('error');
  setTimeout(() => r('timeout'), 5000);
});
const sent = fetch(${JSON.stringify(target + '/from-spy')}, { method: 'POST', body: 'x', mode: 'no-cors', credentials: 'include' })
  .then(() => 'sent', () => 'failed');
Promise.all([wsDone, sent]).then(([w, f]) => { document.title = 'done ws=' + w + ' fetch=' + f; });`;
  return `from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    return '<script>' + ${JSON.stringify(script)} + '</script>'
`;
}

async function postMcp(base: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
  await res.text();
  return res.status;
}

if (!existsSync(CHROMIUM)) console.warn(`skipping the browser token-leak test: no browser at ${CHROMIUM}`);

describe.skipIf(!existsSync(CHROMIUM))('the HTTP token and a web app in the same browser', () => {
  let proc: Awaited<ReturnType<typeof startHttpProcess>>;
  let victim: Client;
  let attacker: Client;
  let base: string;

  beforeAll(async () => {
    proc = await startHttpProcess({ token: `${VICTIM},${ATTACKER}` });
    base = proc.url.replace(/\/mcp$/, '');
    victim = await connectHttp(proc.url, VICTIM);
    attacker = await connectHttp(proc.url, ATTACKER);
    await victim.callTool({ name: 'create_session', arguments: { name: 'victim-session' } });
  }, 90_000);

  afterAll(async () => {
    await victim?.close().catch(() => undefined);
    await attacker?.close().catch(() => undefined);
    await proc?.stop();
  });

  it('never shows the token, the status sign-in or the key to the app, and the sign-in cannot open /mcp', async () => {
    const started = await attacker.callTool({
      name: 'start_web_app',
      arguments: { code: spyApp(base), app_type: 'flask' },
    });
    const app = started.structuredContent as { url: string; app_id: string };
    expect(started.isError ?? false).toBe(false);
    const appOrigin = new URL(app.url).origin;

    const { statusCookie, pages } = await withPage(async (page) => {
      await page.goto(`${base}/status?token=${encodeURIComponent(VICTIM)}`);
      await page.waitForSelector('[data-session]', { timeout: 15_000 });
      const pages: string[] = [];
      // The address the attacker hands out, then its pages that bounce to status paths.
      await page.goto(app.url);
      await page.waitForURL(`${appOrigin}/`);
      await page.waitForFunction(() => document.title === 'sent', undefined, { timeout: 15_000 });
      pages.push(await page.content());
      for (const path of ['/go', '/status/x', '/go-status']) {
        await page.goto(`${appOrigin}${path}`);
        // What the app's own pages show is the app's to read; the status server's answer is not.
        if (new URL(page.url()).origin === appOrigin) pages.push(await page.content());
      }
      const cookies = await page.context().cookies();
      return { statusCookie: cookies.find((c) => c.path === '/status'), pages };
    });

    // The attack reached the app: it saw the visit to its own /status path.
    const seen = await attacker.callTool({ name: 'read_file', arguments: { path: 'seen.log' } });
    const log = String((seen.structuredContent as { text?: string }).text ?? '');
    expect(log).toContain('/status/x');

    expect(statusCookie).toBeDefined();
    const signIn = statusCookie!.value;
    const key = /sandbox-mcp-key\/([^/]+)/.exec(app.url)?.[1];
    for (const text of [log, ...pages]) {
      expect(text).not.toContain(VICTIM);
      expect(text).not.toContain(encodeURIComponent(VICTIM));
      expect(text).not.toContain(signIn);
      expect(text).not.toMatch(/sandbox_mcp_/);
    }
    if (key !== undefined) expect(log).not.toContain(key);

    // The cookie is an opaque, expiring, HttpOnly sign-in for the status page only.
    expect(signIn).not.toContain(VICTIM);
    expect(statusCookie!.httpOnly).toBe(true);
    expect(statusCookie!.expires).toBeGreaterThan(Date.now() / 1000);
    expect(statusCookie!.expires).toBeLessThan(Date.now() / 1000 + 13 * 3600);
    expect(await postMcp(base, { authorization: `Bearer ${signIn}` })).toBe(401);
    expect(await postMcp(base, { cookie: `${statusCookie!.name}=${signIn}` })).toBe(401);
    expect(await postMcp(base, { authorization: `Bearer ${VICTIM}` })).not.toBe(401);
  });

  it("keeps another app's page from using an app's cookie: its WebSocket and its requests are refused", async () => {
    const own = (
      await victim.callTool({ name: 'start_web_app', arguments: { code: WS_APP, app_type: 'fastapi' } })
    ).structuredContent as { url: string; app_id: string };
    const target = new URL(own.url).origin;
    const spy = (
      await attacker.callTool({
        name: 'start_web_app',
        arguments: { code: probeApp(target), app_type: 'flask' },
      })
    ).structuredContent as { url: string };
    const titles = await withPage(async (page) => {
      await page.goto(own.url);
      await page.waitForURL(`${target}/`);
      // The app's own page reaches it over a WebSocket through the relay.
      await page.waitForFunction(() => document.title.startsWith('victim-secret:'), undefined, {
        timeout: 15_000,
      });
      const ownTitle = await page.title();
      await page.goto(spy.url);
      await page.waitForURL(`${new URL(spy.url).origin}/`);
      await page.waitForFunction(() => document.title.startsWith('done'), undefined, { timeout: 15_000 });
      return [ownTitle, await page.title()];
    });
    expect(titles[0]).toBe('victim-secret:ping');
    expect(titles[1]).toMatch(/^done ws=(error|timeout) /);
    const logs = await victim.callTool({ name: 'get_web_app_logs', arguments: { app_id: own.app_id } });
    const lines = (logs.structuredContent as { lines: string[] }).lines.join('\n');
    expect(lines).toContain('GET / ');
    expect(lines).not.toContain('/from-spy');
  });
});
