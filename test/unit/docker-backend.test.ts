// Unit: the Docker backend's pure parts: stream framing, the container settings a box gets, and `--isolation auto`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerSpec } from '../../src/sandbox/docker/container-spec.js';
import { findDockerEndpoint, resolveBackend } from '../../src/sandbox/docker/endpoint.js';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../src/sandbox/docker/frames.js';

describe('frames', () => {
  it('splits frames cut anywhere across chunks, in order', () => {
    const got: Array<[number, string]> = [];
    const r = new FrameReader(
      (c, p) => got.push([c, p.toString()]),
      (e) => {
        throw new Error(e);
      },
    );
    const bytes = Buffer.concat([encodeFrame(0, 'agent\n'), encodeFrame(2, 'out'), encodeFrame(1, '')]);
    for (const b of bytes) r.push(Buffer.from([b]));
    expect(got).toEqual([
      [0, 'agent\n'],
      [2, 'out'],
      [1, ''],
    ]);
  });

  it('stops at a forged header: an unknown channel or a frame over the limit', () => {
    for (const head of [Buffer.from([9, 0, 0, 0, 1]), encodeFrame(0, '').fill(0xff, 1)]) {
      const errors: string[] = [];
      const frames: number[] = [];
      const r = new FrameReader(
        (c) => frames.push(c),
        (e) => errors.push(e),
      );
      r.push(Buffer.concat([head, encodeFrame(0, 'after')]));
      expect(errors).toHaveLength(1);
      expect(frames).toEqual([]);
    }
    expect(MAX_FRAME_BYTES).toBeLessThan(0xffffffff);
  });
});

describe('container settings', () => {
  const spec = containerSpec({
    image: 'img',
    name: 's_abc',
    instance: 'k',
    workspace: '/data/w',
    mplConfigDir: '/data/m',
    python: '/usr/bin/python3',
    user: { uid: 64100, gid: 64100 },
    limits: { memoryBytes: 256 << 20, pids: 64, fileSizeBytes: 1 << 20, openFiles: 128, cpuQuota: 1.5 },
    env: {},
    network: 'none',
    seccomp: Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]),
  });
  it('drops every capability, keeps the root read-only, runs with no network as the box uid', () => {
    const hc = spec.HostConfig!;
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.SecurityOpt).toContain('no-new-privileges:true');
    expect(hc.NetworkMode).toBe('none');
    expect(hc.Privileged).toBe(false);
    expect(spec.NetworkDisabled).toBe(true);
    expect(spec.User).toBe('64100:64100');
    expect(hc.Memory).toBe(256 << 20);
    expect(hc.MemorySwap).toBe(256 << 20);
    expect(hc.PidsLimit).toBe(64);
    expect(hc.NanoCpus).toBe(1.5e9);
    expect(hc.Binds).toEqual(['/data/w:/workspace:rw', '/data/m:/opt/mplconfig:rw']);
    expect(spec.Env).toContain('SANDBOX_IN_BOX=1');
    // pid 1 loads the program bubblewrap boxes get on top of the engine's profile
    expect(spec.Env).toContain('SANDBOX_SECCOMP_BPF=BgAAAAAA/38=');
  });
  it('refuses a bind path Docker would split', () => {
    expect(() =>
      containerSpec({
        image: 'i',
        name: 'n',
        instance: 'k',
        workspace: '/a:/etc',
        mplConfigDir: '/m',
        python: '/usr/bin/python3',
        user: { uid: 1, gid: 1 },
        limits: { memoryBytes: 1 << 20, pids: 1, fileSizeBytes: 1024, openFiles: 8 },
        env: {},
        network: 'none',
        seccomp: null,
      }),
    ).toThrow(/must not contain ':'/);
  });
});

describe('--isolation auto', () => {
  it('takes bubblewrap where it is, else an engine socket, else bubblewrap (which then refuses)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-endpoint-'));
    try {
      const bwrap = join(dir, 'bwrap');
      writeFileSync(bwrap, '');
      const env = { HOME: dir };
      expect(resolveBackend('auto', bwrap, env)).toBe('bwrap');
      expect(resolveBackend('auto', join(dir, 'none'), env)).toBe('bwrap');
      expect(resolveBackend('auto', join(dir, 'none'), { ...env, DOCKER_HOST: 'tcp://h:2376' })).toBe(
        'docker',
      );
      const sock = join(dir, '.docker', 'run', 'docker.sock');
      mkdirSync(join(dir, '.docker', 'run'), { recursive: true });
      const server = createServer();
      await new Promise<void>((r) => server.listen(sock, r));
      expect(findDockerEndpoint(env)).toEqual({ host: `unix://${sock}`, local: true });
      expect(resolveBackend('auto', join(dir, 'none'), env)).toBe('docker');
      server.close();
      expect(resolveBackend('docker', bwrap, env)).toBe('docker');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
