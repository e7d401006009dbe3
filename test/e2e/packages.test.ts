// End-to-end: install_package and list_installed_packages through the real server, with a wheel this test builds
// offline, served from a folder index (no network at all) and from an HTTP index on the host's loopback.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';
import { buildLocalWheel } from './local-wheel.js';

let work: string;
let wheels: string;
let wheelName: string;

/** A server env that reads no pip config file of this machine: only what the test names. */
const pipEnv = (extra: Record<string, string>) => ({ PIP_CONFIG_FILE: '/dev/null', ...extra });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sbx-pkg-test-'));
  const built = buildLocalWheel(
    work,
    'sbx_demo_pkg',
    'VALUE = 42\n\ndef greet(name):\n    return f"hello {name}"\n',
  );
  wheels = built.dir;
  wheelName = built.name;
}, 120_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('packages from a folder index, no network', () => {
  let h: Harness;
  let dataDir: string;
  let sessionId: string;
  const env = () => pipEnv({ PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels });

  beforeAll(async () => {
    h = await startStdio({ env: env() });
    dataDir = h.dataDir;
    sessionId = (await h.sc('create_session', {})).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('suggests install_package with the distribution name when an import fails', async () => {
    const r = await h.call('execute', { session_id: sessionId, code: 'import sklearn.linear_model' });
    const err = errorOf(r);
    expect(err.code).toBe('import_error');
    expect(err.hint).toContain('install_package("scikit-learn")');
    const own = errorOf(await h.call('execute', { session_id: sessionId, code: 'import sbx_demo_pkg' }));
    expect(own.hint).toContain('install_package("sbx_demo_pkg")');
  });

  it('installs the wheel into a new venv, restarts Python once, and the package imports', async () => {
    const progress: string[] = [];
    const res = await h.call(
      'install_package',
      { package: 'sbx_demo_pkg', session_id: sessionId },
      { onprogress: (p) => void (p.message && progress.push(p.message)) },
    );
    expect(res.isError).toBeFalsy();
    const r = res.structuredContent as any;
    expect(r.installed).toEqual({
      name: expect.stringMatching(/^sbx[_-]demo[_-]pkg$/),
      version: '0.1.0',
      source: 'venv',
    });
    expect(r.installer).toBe('pip');
    expect(r.venv).toBe('/workspace/.venv');
    expect(r.venv_created).toBe(true);
    expect(r.python_restarted).toBe(true);
    expect(r.index).toMatchObject({ no_index: true, find_links: [wheels] });
    expect(r.allowed_hosts).toEqual([]);
    expect(progress.join('\n')).toMatch(/Successfully installed sbx[-_]demo[-_]pkg-0\.1\.0/);

    const run = await h.sc('execute', {
      session_id: sessionId,
      code: 'import sys, sbx_demo_pkg, numpy\nkept = "yes"\n(sys.prefix, sbx_demo_pkg.VALUE, sbx_demo_pkg.greet("box"), numpy.__file__.startswith("/usr/"))',
    });
    expect(run.status).toBe('ok');
    expect(run.result['text/plain']).toBe("('/workspace/.venv', 42, 'hello box', True)");
    expect(run.notices.join('\n')).toMatch(/virtualenv.*reset/);
  });

  it('keeps the Python state on later installs', async () => {
    const r = await h.sc('install_package', {
      package: 'sbx-demo-pkg',
      version: '>=0.1,<1',
      session_id: sessionId,
    });
    expect(r.requirement).toBe('sbx-demo-pkg>=0.1,<1');
    expect(r.python_restarted).toBe(false);
    expect(r.venv_created).toBe(false);
    const run = await h.sc('execute', { session_id: sessionId, code: 'kept' });
    expect(run.result['text/plain']).toBe("'yes'");
  });

  it("smoke-tests an exported app with the packages of the session's virtualenv", async () => {
    const code =
      'from flask import Flask\nimport sbx_demo_pkg\n\napp = Flask(__name__)\n\n' +
      "@app.route('/')\ndef index():\n    return sbx_demo_pkg.greet('export')\n";
    const r = await h.sc('export_web_app', { code, app_type: 'flask', session_id: sessionId });
    expect(r.requirements.map((l: string) => l.toLowerCase().replaceAll('_', '-'))).toContain(
      'sbx-demo-pkg==0.1.0',
    );
    expect(r.smoke_test.note).toContain('virtualenv');
    expect(r.smoke_test).toMatchObject({ passed: true, http_status: 200 });
  });

  it('lists installed packages, marking the venv and the system', async () => {
    const r = await h.sc('list_installed_packages', { session_id: sessionId });
    expect(r.venv).toBe('/workspace/.venv');
    const demo = r.packages.find((p: any) => /^sbx[-_]demo[-_]pkg$/.test(p.name));
    expect(demo).toEqual({ name: demo.name, version: '0.1.0', source: 'venv' });
    const numpy = r.packages.find((p: any) => p.name === 'numpy');
    expect(numpy?.source).toBe('system');
    expect(r.counts.venv).toBeGreaterThanOrEqual(1);
  });

  it('refuses URLs, paths, pip options and odd extras with invalid_argument', async () => {
    for (const pkg of [
      'https://example.invalid/x-1.0-py3-none-any.whl',
      'sbx_demo_pkg @ https://example.invalid/x.whl',
      '-e .',
      '--index-url x',
      './wheels/x.whl',
      'numpy; os_name == "posix"',
      'numpy[a b]',
      'numpy pandas',
    ]) {
      const r = await h.call('install_package', { package: pkg, session_id: sessionId });
      expect(r.isError, pkg).toBe(true);
      expect(errorOf(r).code, pkg).toBe('invalid_argument');
    }
    const url = errorOf(await h.call('install_package', { package: 'https://example.invalid/x.whl' }));
    expect(url.hint).toMatch(/--allow-package-urls/);
    const v = await h.call('install_package', { package: 'numpy', version: '--pre' });
    expect(errorOf(v).code).toBe('invalid_argument');
  });

  it('answers not_found for a package the index does not have', async () => {
    const r = await h.call('install_package', { package: 'sbx-no-such-pkg', session_id: sessionId });
    expect(errorOf(r).code).toBe('not_found');
    expect(errorOf(r).details.output_tail).toMatch(/No matching distribution/);
  });

  it('keeps installed packages across a server restart', async () => {
    await h.close({ keepData: true });
    h = await startStdio({ dataDir, env: env() });
    const run = await h.sc('execute', {
      session_id: sessionId,
      code: 'import sys, sbx_demo_pkg\n(sys.prefix, sbx_demo_pkg.VALUE)',
    });
    expect(run.status).toBe('ok');
    expect(run.result['text/plain']).toBe("('/workspace/.venv', 42)");
  });
});

describe('packages from an HTTP index on the host loopback', () => {
  let h: Harness;
  let index: Server;
  let port: number;
  const hits: string[] = [];

  beforeAll(async () => {
    const wheel = readFileSync(join(wheels, wheelName));
    index = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/simple/sbx-demo-pkg/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><body><a href="/files/${wheelName}">${wheelName}</a></body></html>`);
      } else if (req.url === '/simple/sbx-elsewhere/') {
        // Links to a file on a host the install may not reach.
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          `<html><body><a href="http://files.localhost:${port}/files/sbx_elsewhere-1.0-py3-none-any.whl">x</a></body></html>`,
        );
      } else if (req.url === `/files/${wheelName}`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(wheel);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => index.listen(0, '127.0.0.1', r));
    port = (index.address() as AddressInfo).port;
    h = await startStdio({ env: pipEnv({ PIP_INDEX_URL: `http://127.0.0.1:${port}/simple` }) });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise<void>((r) => index.close(() => r()));
  });

  it("reaches the configured index through the install's proxy, while the session itself stays offline", async () => {
    const r = await h.sc('install_package', { package: 'sbx_demo_pkg' });
    expect(r.allowed_hosts).toEqual(['127.0.0.1']);
    expect(r.installed?.version).toBe('0.1.0');
    expect(hits).toContain(`/files/${wheelName}`);
    const run = await h.sc('execute', {
      code:
        `import sbx_demo_pkg, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:${port}/simple/', timeout=3); print('reached')\n` +
        `except Exception as e:\n    print('offline', type(e).__name__)\nsbx_demo_pkg.VALUE`,
    });
    expect(run.result['text/plain']).toBe('42');
    expect(run.stdout).toMatch(/^offline/);
  });

  it('reports network_denied when the index sends the installer to another host', async () => {
    const r = await h.call('install_package', { package: 'sbx-elsewhere' });
    const err = errorOf(r);
    expect(err.code).toBe('network_denied');
    expect(err.message).toMatch(/files\.localhost/);
    expect(err.details.denials[0]).toMatchObject({ host: 'files.localhost', port });
  });
});
