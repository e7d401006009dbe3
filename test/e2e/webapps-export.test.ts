// End-to-end: exporting web apps as Docker bundles — detected requirements, the bundle's files, the smoke test in a
// fresh box, name checks, details, cleanup, and build_docker_image with the engine the server sees, or none.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, serversSeeEngine, start, type Harness } from './harness.js';

const FLASK = `from flask import Flask
import helpers

app = Flask(__name__)

@app.route('/')
def index():
    return helpers.greeting()

if __name__ == '__main__':
    app.run(debug=True)
`;

describe('web app exports', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start('stdio');
    // A local module in the workspace: excluded from requirements, copied into the bundle.
    await h.sc('execute', {
      code: "open('helpers.py', 'w').write('import json\\ndef greeting():\\n    return json.dumps({\"hello\": \"export\"})\\n')",
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('exports a running Flask app whose bundle passes the smoke test in a fresh box', async () => {
    const app = await h.sc('start_web_app', { code: FLASK, app_type: 'flask' });
    expect(await (await fetch(app.url)).text()).toBe('{"hello": "export"}');
    const r = await h.sc('export_web_app', { app_id: app.app_id, export_name: 'hello_flask' });
    expect(r.export_name).toBe('hello_flask');
    expect(r.path).toBe(join(h.dataDir, 'exports', 'hello_flask'));
    const names = r.files.map((f: { path: string }) => f.path);
    for (const f of [
      'app.py',
      'helpers.py',
      'requirements.txt',
      'Dockerfile',
      'docker-compose.yml',
      '.dockerignore',
      'README.md',
    ]) {
      expect(names).toContain(f);
    }
    const reqs = r.requirements.map((l: string) => l.split('==')[0]!.toLowerCase());
    expect(reqs).toEqual(['flask', 'gunicorn']);
    expect(r.requirements.every((l: string) => /==\d/.test(l))).toBe(true);
    expect(r.smoke_test.passed).toBe(true);
    expect(r.smoke_test.http_status).toBe(200);
    expect(r.smoke_test.dockerfile_command).toContain('gunicorn');
    expect(r.smoke_test.note).toMatch(/gunicorn|flask run/);
    const dockerfile = readFileSync(join(r.path, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=python:3\.\d+-slim\nFROM \$\{BASE_IMAGE\}$/m);
    expect(dockerfile).toMatch(/^USER appuser$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toMatch(/^EXPOSE 8000$/m);
    expect(dockerfile).toContain('"gunicorn"');
    const readme = readFileSync(join(r.path, 'README.md'), 'utf8');
    expect(readme).toContain('docker compose up --build');
    expect(readme).toContain('docker run --rm -p 8000:8000');
    expect(readme).toContain('pip install -r requirements.txt');
  });

  it("exports FastAPI code with its server and the session's versions pinned", async () => {
    const code =
      'from fastapi import FastAPI\nimport numpy as np\napi = FastAPI()\n@api.get("/")\ndef root():\n    return {"mean": float(np.mean([1, 2, 3]))}\n';
    const r = await h.sc('export_web_app', { code, app_type: 'fastapi', export_name: 'api-1' });
    const dists = r.requirement_entries.map((e: { distribution: string }) => e.distribution.toLowerCase());
    expect(dists).toEqual(['fastapi', 'numpy', 'uvicorn']);
    expect(readFileSync(join(r.path, 'Dockerfile'), 'utf8')).toContain('"uvicorn", "app:api"');
    expect(r.smoke_test.passed).toBe(true);
  });

  it('exports a static site served by http.server', async () => {
    const app = await h.sc('start_web_app', {
      code: '<!doctype html><p>static export</p>',
      app_type: 'static',
    });
    const r = await h.sc('export_web_app', { app_id: app.app_id, export_name: 'site' });
    expect(r.files.map((f: { path: string }) => f.path)).toContain('static/index.html');
    expect(r.requirements).toEqual([]);
    expect(r.smoke_test).toMatchObject({ passed: true, same_as_dockerfile: true, http_status: 200 });
    expect(r.smoke_test.command).toMatch(
      /^python -m http\.server \d+ --bind 127\.0\.0\.1 --directory static$/,
    );
    await h.sc('cleanup_web_app_export', { export_name: 'site' });
  });

  it('refuses names with .. or / and never overwrites an export', async () => {
    for (const export_name of ['../evil', 'a/b', '..', 'x'.repeat(65), 'sp ace']) {
      const res = await h.call('export_web_app', {
        code: 'import flask\napp = flask.Flask(__name__)\n',
        export_name,
      });
      expect(res.isError).toBe(true);
      expect(errorOf(res).code).toBe('invalid_argument');
    }
    expect(existsSync(join(h.dataDir, 'evil'))).toBe(false);
    const dup = await h.call('export_web_app', {
      code: 'import flask\napp = flask.Flask(__name__)\n',
      export_name: 'hello_flask',
    });
    expect(errorOf(dup).code).toBe('invalid_argument');
    expect(errorOf(dup).message).toContain('already exists');
    expect(readFileSync(join(h.dataDir, 'exports', 'hello_flask', 'app.py'), 'utf8')).toBe(FLASK);
  });

  it('lists, describes (with contents on request) and removes exports', async () => {
    const list = await h.sc('list_web_app_exports', {});
    expect(list.exports.map((e: { export_name: string }) => e.export_name)).toEqual(['hello_flask', 'api-1']);
    const d = await h.sc('get_export_details', {
      export_name: 'hello_flask',
      include_contents: true,
      max_bytes_per_file: 100,
    });
    const app = d.files.find((f: { path: string }) => f.path === 'app.py');
    expect(app.content).toBe(FLASK.slice(0, 100));
    expect(app.content_truncated).toBe(true);
    expect(d.smoke_test.passed).toBe(true);
    const gone = await h.sc('cleanup_web_app_export', { export_name: 'api-1' });
    expect(gone.removed).toBe(true);
    expect(existsSync(join(h.dataDir, 'exports', 'api-1'))).toBe(false);
    const missing = await h.call('get_export_details', { export_name: 'api-1' });
    expect(errorOf(missing).code).toBe('not_found');
  });

  it.skipIf(serversSeeEngine())(
    'build_docker_image without a Docker engine says docker_unavailable and how to build elsewhere',
    async () => {
      const res = await h.call('build_docker_image', { export_name: 'hello_flask' });
      expect(res.isError).toBe(true);
      const err = errorOf(res);
      expect(err.code).toBe('docker_unavailable');
      expect(err.hint).toContain('docker build -t hello_flask:latest .');
      expect(err.hint).toContain('docker compose up --build');
    },
  );

  // With an engine the build runs: the default base comes from a registry, so it is built, or it fails with the
  // build's own error where no registry answers (docker-build.test.ts builds with a local base).
  it.skipIf(!serversSeeEngine())('build_docker_image with a Docker engine runs the build', async () => {
    const res = await h.call('build_docker_image', {
      export_name: 'hello_flask',
      tag: 'sbx-export-test:latest',
    });
    if (!res.isError) {
      expect((res.structuredContent as Record<string, any>).image_id).toMatch(/^sha256:[0-9a-f]{64}$/);
      return;
    }
    const err = errorOf(res);
    expect(err.code).toBe('runtime_error');
    expect(err.message).toMatch(/^docker build of sbx-export-test:latest failed: /);
    expect(err.details.log_tail.join('\n')).toMatch(/FROM \$\{BASE_IMAGE\}/);
  });
});
