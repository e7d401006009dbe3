// End-to-end: the status page of `serve`, behind the token, rendered in headless Chromium with a plot thumbnail.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startHttpProcess } from './harness.js';
import { withPage } from './webapps-browser.js';

describe('status page', () => {
  let proc: Awaited<ReturnType<typeof startHttpProcess>>;
  let client: Client;
  let sessionId: string;

  beforeAll(async () => {
    proc = await startHttpProcess();
    client = await connectHttp(proc.url, proc.token);
    sessionId = (
      (await client.callTool({ name: 'create_session', arguments: { name: 'status-demo' } }))
        .structuredContent as any
    ).session_id;
    await client.callTool({
      name: 'execute',
      arguments: { session_id: sessionId, code: 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])' },
    });
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await proc?.stop();
    if (proc) rmSync(proc.dataDir, { recursive: true, force: true });
  });

  it('refuses the page without the token', async () => {
    const base = proc.url.replace(/\/mcp$/, '');
    expect((await fetch(`${base}/status`)).status).toBe(401);
    expect((await fetch(`${base}/status/data`)).status).toBe(401);
  });

  it('renders the sessions with usage and an image artifact', async () => {
    const base = proc.url.replace(/\/mcp$/, '');
    const shots = mkdtempSync(join(tmpdir(), 'status-shot-'));
    try {
      await withPage(async (page) => {
        await page.goto(`${base}/status?token=${encodeURIComponent(proc.token)}`);
        expect(page.url()).toBe(`${base}/status`); // the token left the address bar
        // and went into no cookie: the browser holds an opaque sign-in that only the status pages accept.
        const cookies = await page.context().cookies();
        expect(cookies.map((c) => c.name)).toEqual([`sandbox_mcp_status_${new URL(base).port}`]);
        expect(cookies[0]!.value).not.toContain(proc.token);
        expect(cookies[0]!.httpOnly).toBe(true);
        await page.waitForSelector(`[data-session="${sessionId}"] img`, { timeout: 15_000 });
        const text = await page.textContent('body');
        expect(text).toContain(sessionId);
        expect(text).toContain('status-demo');
        // The element is there before its picture has arrived: wait for the load to finish, then measure.
        const img = `[data-session="${sessionId}"] img`;
        await page.waitForFunction(
          (sel) => (document.querySelector(sel) as HTMLImageElement | null)?.complete === true,
          img,
          { timeout: 15_000 },
        );
        const loaded = await page.$eval(img, (el) => (el as HTMLImageElement).naturalWidth);
        expect(loaded).toBeGreaterThan(50);
        const shot = join(shots, 'status.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(5000);
      });
    } finally {
      rmSync(shots, { recursive: true, force: true });
    }
  });

  it("lists a running web app without its key; a link from another site to the app's URL opens it", async () => {
    const base = proc.url.replace(/\/mcp$/, '');
    const app = (
      await client.callTool({
        name: 'start_web_app',
        arguments: { session_id: sessionId, code: '<!doctype html><title>a</title><p id="p">linked app</p>' },
      })
    ).structuredContent as { url: string };
    const origin = new URL(app.url).origin;
    const key = /sandbox-mcp-key\/([^/]+)\//.exec(app.url)![1]!;
    await withPage(async (page) => {
      await page.goto(`${base}/status?token=${encodeURIComponent(proc.token)}`);
      // A status sign-in shows where the app is, never the key that opens it.
      await page.getByText(`${origin}/`).waitFor({ timeout: 15_000 });
      const data = await page.evaluate(async () => (await fetch('/status/data')).text());
      expect(data).toContain(origin);
      expect(data).not.toContain(key);
      // The URL start_web_app returned, followed from a page of another site (as from a chat in a browser).
      await page.evaluate((href) => {
        const a = document.createElement('a');
        a.href = href;
        a.id = 'given';
        a.textContent = 'open';
        document.body.append(a);
      }, app.url);
      await page.click('#given');
      await page.waitForURL(`${origin}/`);
      expect(await page.textContent('#p')).toBe('linked app');
    });
  });
});
