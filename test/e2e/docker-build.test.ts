// End-to-end: build_docker_image on a real engine (scripts/test-docker-engine.sh, no registry): an exported Flask
// app built on a local base image through the tool, run with network none and answering HTTP 200 inside its
// container; a broken requirements line answers the build's own error; bad build arguments are refused.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';

const { engine, skip } = engineForFile('docker-build');

const FLASK = `from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    return {'built': True, 'sum': sum(range(10))}
`;

/** An index nothing listens on: a build that needs it fails, one that does not never asks it. */
const NO_INDEX = 'http://127.0.0.1:9/simple';
const TAG = 'sbx-built-flask:e2e';

/** Runs a command in a running container; its exit code and output (stdout and stderr together). */
async function execIn(c: Docker.Container, cmd: string[]): Promise<{ code: number | null; out: string }> {
  const exec = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const sink = new PassThrough();
  let out = '';
  sink.on('data', (d: Buffer) => (out += d.toString('utf8')));
  c.modem.demuxStream(stream, sink, sink);
  await new Promise((r) => stream.on('end', r));
  return { code: (await exec.inspect()).ExitCode, out };
}

describe.skipIf(skip !== null)('build_docker_image on a Docker engine', () => {
  let h: Harness;
  let docker: Docker;
  /** The box's Python image (Debian's python3 with flask and gunicorn), built locally: the build's base. */
  let base: string;
  const containers: Docker.Container[] = [];
  beforeAll(async () => {
    const env = engineEnv(engine);
    prepareBoxImage(CLI, env);
    docker = new Docker({ socketPath: env.DOCKER_HOST!.replace(/^unix:\/\//, '') });
    const pythons = await docker.listImages({ filters: { reference: ['sandbox-mcp-python'] } });
    const newest = pythons.sort((a, b) => b.Created - a.Created)[0];
    base = newest!.RepoTags!.find((t) => t.startsWith('sandbox-mcp-python:'))!;
    await docker
      .getImage(TAG)
      .remove({ force: true })
      .catch(() => undefined);
    h = await startStdio({ args: ['--isolation', 'docker', '--memory-mb', '512'], env });
  }, 25 * 60_000);
  afterAll(async () => {
    for (const c of containers) await c.remove({ force: true }).catch(() => undefined);
    await docker
      ?.getImage(TAG)
      .remove({ force: true })
      .catch(() => undefined);
    await h?.close();
  });

  it(
    'builds an exported Flask app on a local base, and the image answers HTTP 200 with network none',
    async () => {
      const exp = await h.sc('export_web_app', {
        code: FLASK,
        app_type: 'flask',
        export_name: 'built_flask',
      });
      expect(exp.smoke_test.passed).toBe(true);
      const streamed: string[] = [];
      const res = await h.client.callTool(
        {
          name: 'build_docker_image',
          arguments: { export_name: 'built_flask', tag: TAG, base_image: base, pip_index_url: NO_INDEX },
        },
        {
          onprogress: (p) => {
            if (p.message) streamed.push(p.message);
          },
          timeout: 10 * 60_000,
        },
      );
      expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
      const r = res.structuredContent as Record<string, any>;
      expect(r.tag).toBe(TAG);
      expect(r.image_id).toMatch(/^sha256:[0-9a-f]{64}$/);
      // the image under the tag is the one the tool reports, built from the given base
      const image = await docker.getImage(TAG).inspect();
      expect(image.Id).toBe(r.image_id);
      expect(image.Config.User).toBe('appuser');
      // the build's lines came while it ran, and the build arguments reached the Dockerfile and pip
      const log = streamed.join('\n');
      expect(log).toContain('FROM ${BASE_IMAGE}');
      expect(log).toContain(`Looking in indexes: ${NO_INDEX}`);
      expect(log).toMatch(/Requirement already satisfied: flask==/i);
      expect(r.log_tail.join('\n')).toContain(`Successfully tagged ${TAG}`);

      // the image's own CMD serves the app; asked from inside its container, which has no network but its loopback
      const c = await docker.createContainer({
        Image: TAG,
        HostConfig: { NetworkMode: 'none' },
        Labels: { 'dev.sandbox-mcp.test': 'docker-build' },
      });
      containers.push(c);
      await c.start();
      const probe = [
        'import time, urllib.request',
        'for _ in range(150):',
        '    try:',
        "        r = urllib.request.urlopen('http://127.0.0.1:8000/', timeout=3)",
        '        print(r.status, r.read().decode()); break',
        '    except OSError:',
        '        time.sleep(0.2)',
        'else:',
        "    raise SystemExit('no answer')",
      ].join('\n');
      const got = await execIn(c, ['python3', '-c', probe]);
      expect(got.out).toMatch(/^200 \{"built":\s*true,\s*"sum":\s*45\}/m);
      expect(got.code).toBe(0);
      const seen = await c.inspect();
      expect(seen.HostConfig.NetworkMode).toBe('none');
      expect(seen.Config.Cmd?.slice(0, 3)).toEqual(['python3', '-m', 'gunicorn']);
    },
    12 * 60_000,
  );

  it(
    "answers a broken requirements line with the build's own error and its log",
    async () => {
      const exp = await h.sc('export_web_app', {
        code: FLASK,
        app_type: 'flask',
        export_name: 'broken_reqs',
      });
      appendFileSync(join(exp.path, 'requirements.txt'), 'flask >>> 2\n');
      const res = await h.call(
        'build_docker_image',
        { export_name: 'broken_reqs', tag: 'sbx-broken-reqs:e2e', base_image: base },
        { timeout: 10 * 60_000 },
      );
      expect(res.isError).toBe(true);
      const err = errorOf(res);
      expect(err.code).toBe('runtime_error');
      expect(err.message).toMatch(
        /^docker build of sbx-broken-reqs:e2e failed: .*returned a non-zero code: 1/,
      );
      expect(err.details.build_error).toMatch(/python3 -m pip install -r requirements\.txt/);
      expect(err.details.log_tail.join('\n')).toContain("Invalid requirement: 'flask >>> 2'");
      await expect(docker.getImage('sbx-broken-reqs:e2e').inspect()).rejects.toThrow();
    },
    12 * 60_000,
  );

  it('refuses build arguments that are not an image reference or a plain http(s) index', async () => {
    for (const [args, field] of [
      [{ base_image: 'python:3.11-slim\nRUN id' }, 'base_image'],
      [{ base_image: '--network=host' }, 'base_image'],
      [{ pip_index_url: 'file:///etc/passwd' }, 'pip_index_url'],
      [{ pip_index_url: 'http://user:secret@127.0.0.1:9/simple' }, 'pip_index_url'],
    ] as const) {
      const err = errorOf(await h.call('build_docker_image', { export_name: 'built_flask', ...args }));
      expect(err.code, JSON.stringify(args)).toBe('invalid_argument');
      expect(JSON.stringify(err.details)).toContain(field);
      expect(JSON.stringify(err)).not.toContain('secret');
    }
  });
});
