// What a box and a build take from a real engine (scripts/test-docker-engine.sh): the engine's CPU mapped to the
// seccomp program's architecture, and the id of a built image taken from the build's own stream, each build its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/sandbox/docker/engine.js';
import { buildImage } from '../../src/sandbox/docker/image-build.js';
import { hostSeccompArch } from '../../src/sandbox/seccomp.js';
import { BASE_IMAGE, engineForFile } from './docker-engine.js';

const { engine, skip } = engineForFile('docker-engine-facts');
const TAG = `sbx-engine-facts:${randomBytes(4).toString('hex')}`;
const dirs: string[] = [];

describe.skipIf(skip !== null)('engine facts', () => {
  const endpoint = () => ({ host: 'host' in engine ? engine.host : '', local: true });
  afterAll(async () => {
    const e = await connectEngine(endpoint());
    await e.docker
      .getImage(TAG)
      .remove({ force: true })
      .catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("names the engine's CPU, here this machine's", async () => {
    const { facts } = await connectEngine(endpoint());
    expect(facts.architecture).not.toBe('?');
    expect(facts.arch).toBe(hostSeccompArch());
  });

  it('gives each of two builds of one tag the id of the image it made', async () => {
    const e = await connectEngine(endpoint());
    const build = (mark: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'sbx-build-id-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'Dockerfile'), `FROM ${BASE_IMAGE}\nLABEL dev.sandbox-mcp.test-mark=${mark}\n`);
      return buildImage(e, { context: dir, tag: TAG, buildArgs: {} });
    };
    const [a, b] = await Promise.all([build('first'), build('second')]);
    for (const [r, mark] of [
      [a, 'first'],
      [b, 'second'],
    ] as const) {
      expect(r.error).toBeNull();
      expect(r.imageId).toMatch(/^sha256:[a-f0-9]{64}$/);
      const info = await e.docker.getImage(r.imageId!).inspect();
      expect(info.Config.Labels?.['dev.sandbox-mcp.test-mark']).toBe(mark);
    }
    expect(a.imageId).not.toBe(b.imageId);
  }, 120_000);
});
