// End-to-end: the status page's live notebook view in headless Chromium. A client runs a plot, an error and a
// five-second loop while the page is open; the page shows them live and in order, files open in place (HTML only in
// a sandboxed frame), backups and their diff, the notebook download, and only the viewer's own sessions.
// Screenshots go to test-output/live-view/ (git-ignored) for review; any console error fails the test.
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startHttpProcess } from './harness.js';
import { withPage } from './webapps-browser.js';

const SHOTS = resolve(import.meta.dirname, '../../test-output/live-view');
const TOKEN_A = 'live-a-' + Math.random().toString(36).slice(2) + '-abcdefgh';
const TOKEN_B = 'live-b-' + Math.random().toString(36).slice(2) + '-abcdefgh';

const PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2, 4])\nplt.title('live plot')";
const ERROR = 'def divide(a, b):\n    return a / b\n\ndivide(1, 0)';
const LOOP = "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n    time.sleep(1)\n'done'";

describe('the live notebook view of the status page', () => {
  let proc: Awaited<ReturnType<typeof startHttpProcess>>;
  let client: Client;
  let other: Client;
  let sessionId: string;
  let base: string;

  const sc = async (c: Client, name: string, args: Record<string, unknown>) => {
    const r = await c.callTool({ name, arguments: args });
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`);
    return r.structuredContent as Record<string, any>;
  };
  const get = (path: string, token = TOKEN_A, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    proc = await startHttpProcess({ token: `${TOKEN_A},${TOKEN_B}` });
    base = proc.url.replace(/\/mcp$/, '');
    client = await connectHttp(proc.url, TOKEN_A);
    other = await connectHttp(proc.url, TOKEN_B);
    sessionId = (await sc(client, 'create_session', { name: 'live-demo' })).session_id;
    mkdirSync(SHOTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await other?.close().catch(() => undefined);
    await proc?.stop();
  });

  /** Opens the page signed in, failing the test on any console error or uncaught exception in it. */
  async function openPage(page: Page, errors: string[], allowed: RegExp[] = []): Promise<void> {
    page.on('console', (m) => {
      if (m.type() === 'error' && !allowed.some((re) => re.test(m.text()))) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/status?token=${encodeURIComponent(TOKEN_A)}#s=${sessionId}`);
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 15_000 });
  }

  const cells = (page: Page) => page.locator('ol.cells article.cell');

  it('shows a plot, an error and a running loop live, in order, and keeps them after a reload', async () => {
    const errors: string[] = [];
    await withPage(async (page) => {
      await openPage(page, errors);
      await page.emulateMedia({ colorScheme: 'light' });
      expect(await cells(page).count()).toBe(0);

      await sc(client, 'execute', { session_id: sessionId, code: PLOT });
      const plot = cells(page).nth(0);
      await plot.locator('img').waitFor({ timeout: 15_000 });
      expect(await plot.getAttribute('data-status')).toBe('ok');
      expect(await plot.locator('img').getAttribute('alt')).toMatch(/call 1/);
      expect(await plot.locator('img').evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(
        100,
      );
      // The code is highlighted: keywords and strings are spans of their own.
      expect(await plot.locator('pre.code .c-kw', { hasText: 'import' }).count()).toBeGreaterThan(0);
      expect(await plot.locator('pre.code .c-str', { hasText: "'live plot'" }).count()).toBe(1);

      await client.callTool({ name: 'execute', arguments: { session_id: sessionId, code: ERROR } });
      const error = cells(page).nth(1);
      await error.locator('.error').waitFor({ timeout: 15_000 });
      expect(await error.getAttribute('data-status')).toBe('error');
      expect(await error.locator('.error strong').textContent()).toBe('runtime_error');
      expect(await error.locator('.error').textContent()).toContain('ZeroDivisionError');
      expect(await error.locator('pre.traceback').textContent()).toContain('divide');

      const loop = client.callTool({ name: 'execute', arguments: { session_id: sessionId, code: LOOP } });
      const running = cells(page).nth(2);
      await page.locator('.cell[data-status=running]').waitFor({ timeout: 15_000 });
      await running.locator('.out pre', { hasText: 'tick 1' }).waitFor({ timeout: 15_000 });
      expect(await running.getAttribute('data-status')).toBe('running');
      expect(await running.locator('progress').count()).toBe(1);
      // the elapsed time ticks on the page's own timer: wait for its next tick rather than read it at once
      await expect
        .poll(async () => Number.parseFloat((await running.locator('.elapsed').textContent()) ?? ''), {
          timeout: 5_000,
        })
        .toBeGreaterThan(0.5);
      await page.screenshot({ path: join(SHOTS, 'laptop-light-running.png'), fullPage: true });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: join(SHOTS, 'laptop-dark-running.png'), fullPage: true });

      const done = (await loop) as { structuredContent: { status: string } };
      expect(done.structuredContent.status).toBe('ok');
      await page.locator('.cell[data-status=ok]', { hasText: 'tick 4' }).waitFor({ timeout: 10_000 });
      expect(await running.locator('.out').textContent()).toContain("'done'");
      expect(await running.locator('.duration').textContent()).toMatch(/s$/);

      // A shell command shows too, with its exit code.
      await sc(client, 'shell_execute', { session_id: sessionId, command: 'echo from-the-shell; exit 3' });
      const shell = cells(page).nth(3);
      await shell.locator('.badge', { hasText: 'exit 3' }).waitFor({ timeout: 10_000 });
      expect(await shell.locator('.out').textContent()).toContain('from-the-shell');

      const order = async () =>
        cells(page).evaluateAll((els) =>
          els.map((e) => `${e.getAttribute('data-kind')}:${e.getAttribute('data-status')}`),
        );
      expect(await order()).toEqual(['python:ok', 'python:error', 'python:ok', 'shell:ok']);
      await page.screenshot({ path: join(SHOTS, 'laptop-dark-done.png'), fullPage: true });

      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(SHOTS, 'phone-dark.png'), fullPage: true });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.screenshot({ path: join(SHOTS, 'phone-light.png'), fullPage: true });

      // After a reload the Python calls come from the history, the shell command from this process's memory.
      await page.reload();
      await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 15_000 });
      await cells(page).nth(3).waitFor({ timeout: 10_000 });
      expect(await order()).toEqual(['python:ok', 'python:error', 'python:ok', 'shell:ok']);
      expect(await cells(page).nth(0).locator('img').count()).toBe(1);
      expect(await cells(page).nth(1).locator('.error strong').textContent()).toBe('runtime_error');

      // Keyboard: j and k move between the calls.
      await page.locator('body').press('j');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-kind'))).toBe('python');
      await page.keyboard.press('j');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-status'))).toBe('error');
      // Landmarks, and alt text on every image.
      for (const sel of ['header', 'nav', 'main', 'aside']) expect(await page.locator(sel).count()).toBe(1);
      const noAlt = await page.locator('img:not([alt]), img[alt=""]').count();
      expect(noAlt).toBe(0);
    });
    expect(errors).toEqual([]);
  }, 120_000);

  it('opens files in place (CSV as a table, HTML only in a sandboxed frame), downloads them, shows backups and a diff', async () => {
    await sc(client, 'write_file', {
      session_id: sessionId,
      path: 'data.csv',
      text: 'city,people\n"Paris, FR",2100000\nOslo,700000\n',
    });
    await sc(client, 'write_file', {
      session_id: sessionId,
      path: 'report.html',
      text:
        '<h1 id="h">Report</h1><img src="/status/data?from-frame=1" alt="x">' +
        '<script>parent.document.title = "reached"; fetch("/status/data?from-frame=2");</script>',
    });
    await sc(client, 'backup_current_artifacts', { session_id: sessionId });
    await sc(client, 'write_file', {
      session_id: sessionId,
      path: 'notes.txt',
      text: 'second thoughts\n',
    });
    await sc(client, 'backup_current_artifacts', { session_id: sessionId });

    const errors: string[] = [];
    const fromFrame: string[] = [];
    await withPage(async (page) => {
      page.on('request', (r) => {
        if (r.url().includes('from-frame')) fromFrame.push(r.url());
      });
      // The frame's script and image are refused (by its sandbox and its own policy): those refusals are expected.
      await openPage(page, errors, [/about:srcdoc/, /from-frame/]);
      await page.locator('aside button.link', { hasText: 'data.csv' }).click();
      await page.locator('#viewer table td', { hasText: 'Paris, FR' }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#viewer th').allTextContents()).toEqual(['city', 'people']);
      const href = await page.locator('#viewer-download').getAttribute('href');
      const dl = await get(href!);
      expect(dl.headers.get('content-disposition')).toMatch(/^attachment; filename="data.csv"/);
      expect(dl.headers.get('content-security-policy')).toMatch(/^sandbox/);
      expect(await dl.text()).toContain('Oslo,700000');
      await page.screenshot({ path: join(SHOTS, 'viewer-csv.png') });
      await page.keyboard.press('Escape');

      await page.locator('aside button.link', { hasText: 'report.html' }).click();
      const frame = page.locator('#viewer iframe');
      await frame.waitFor({ timeout: 10_000 });
      expect(await frame.getAttribute('sandbox')).toBe('');
      await page.frameLocator('#viewer iframe').locator('#h').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(500);
      expect(await page.title()).toBe('sandbox-mcp status');
      expect(fromFrame).toEqual([]);
      await page.keyboard.press('Escape');

      const backups = page.locator('aside section', { hasText: 'Backups' });
      await backups.locator('button.link').first().click();
      await page.locator('#viewer td', { hasText: 'notes.txt' }).waitFor({ timeout: 10_000 });
      await page.keyboard.press('Escape');
      await backups.locator('button', { hasText: 'Compare' }).click();
      await page.locator('#viewer section', { hasText: 'Added (1)' }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#viewer li').allTextContents()).toEqual(['notes.txt']);
      await page.screenshot({ path: join(SHOTS, 'viewer-diff.png') });
      await page.keyboard.press('Escape');

      // "Open as notebook": the session's history as export_notebook writes it.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('a', { hasText: 'Open as notebook' }).click(),
      ]);
      const nb = JSON.parse(readFileSync((await download.path())!, 'utf8'));
      const exported = await sc(client, 'export_notebook', { session_id: sessionId, name: 'compare' });
      const written = JSON.parse(
        (await sc(client, 'read_file', { session_id: sessionId, path: exported.path })).text,
      );
      expect(nb.nbformat).toBe(4);
      expect(nb.cells.map((c: any) => c.source.join(''))).toEqual(
        written.cells.map((c: any) => c.source.join('')),
      );
      expect(nb.cells.map((c: any) => c.outputs.map((o: any) => o.output_type))).toEqual(
        written.cells.map((c: any) => c.outputs.map((o: any) => o.output_type)),
      );
    });
    expect(errors).toEqual([]);
  }, 120_000);

  it("shows a viewer only its own sessions: another client's session, cells and stream are not found", async () => {
    const mine = (await sc(other, 'create_session', { name: 'b-own' })).session_id;
    for (const path of [
      '/status/cells',
      '/status/events',
      '/status/notebook',
      '/status/backup?name=x&',
      '/status/diff',
    ]) {
      const sep = path.includes('?') ? '' : '?';
      const res = await get(`${path}${sep}session=${sessionId}`, TOKEN_B);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as any).error.code).toBe('not_found');
    }
    const data = (await (await get('/status/data', TOKEN_B)).json()) as any;
    expect(data.sessions.map((s: any) => s.session_id)).toEqual([mine]);
    // B watches its own session while A runs code: nothing of A's reaches B's stream.
    const abort = new AbortController();
    const res = await fetch(`${base}/status/events?session=${mine}`, {
      headers: { Authorization: `Bearer ${TOKEN_B}` },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    let seen = '';
    const reading = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of res.body as any) seen += dec.decode(chunk);
    })().catch(() => undefined);
    await sc(client, 'execute', { session_id: sessionId, code: "print('secret-of-a')" });
    await new Promise((r) => setTimeout(r, 500));
    abort.abort();
    await reading;
    expect(seen).toContain('event: snapshot');
    expect(seen).not.toContain('secret-of-a');
    expect(seen).not.toContain('event: start');
  });

  it('is read-only: no other method, and looking is not use (last_used_at and the idle clock stay)', async () => {
    const used = async () =>
      (await sc(client, 'list_sessions', {})).sessions.find((s: any) => s.session_id === sessionId)
        .last_used_at;
    const before = await used();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get('/status/data')).status).toBe(200);
    expect(await used()).toBe(before);
    for (const path of [`/status/cells?session=${sessionId}`, `/status/notebook?session=${sessionId}`])
      expect((await get(path)).status).toBe(200);
    expect(await used()).toBe(before);
    expect((await get('/status/data', TOKEN_A, { method: 'POST' })).status).toBe(405);
    // And the page never opens a default session for a viewer who has none.
    const none = (await (await get('/status/data', TOKEN_B)).json()) as any;
    expect(none.sessions.every((s: any) => !s.is_default)).toBe(true);
  });
});
