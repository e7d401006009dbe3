// End-to-end: the warm pool on the Docker backend (a real engine from scripts/test-docker-engine.sh): create_session
// hands out a container started before the call, the first execute runs in it, two sessions never share a container
// or workspace, the CPU share is raised on hand-out, and no box container outlives the server (a killed server's end
// by themselves; what an engine kept anyway is removed by the next start before it makes its own).
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKGROUND_CPU_SHARES_V1, CPU_SHARES_V1 } from '../../src/sandbox/cgroups.js';
import { BOX_LABEL } from '../../src/sandbox/docker/container-spec.js';
import { dockerInstance } from '../../src/sandbox/docker/backend.js';
import { CLI, connectHttp, startHttpProcess } from './harness.js';
import { BASE_IMAGE, engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';
import { until } from './until.js';

const { engine, skip } = engineForFile('docker-pool');
/** Pooled boxes start at the lowest CPU share: on a busy machine they take their time. */
const POOL_READY_MS = 90_000;

/** A box container of one data dir, as the engine lists it. */
interface Listed {
  id: string;
  session: string;
  state: string;
  createdS: number;
}

type Server = Awaited<ReturnType<typeof startHttpProcess>>;

// each test may wait for pooled boxes more than once
describe.skipIf(skip !== null)('the warm pool on the Docker backend', { timeout: 4 * POOL_READY_MS }, () => {
  let docker: Docker;
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-docker-pool-'));
  const instance = dockerInstance(dataDir);
  const stops: Array<() => Promise<void>> = [];
  const env = engineEnv(engine);
  /** Stops a server unless it has exited already (a killed one). */
  const stopOf = (s: Server) => () =>
    s.child.exitCode === null && s.child.signalCode === null ? s.stop() : Promise.resolve();
  const args = ['--isolation', 'docker', '--pool-size', '2', '--preload', 'none', '--memory-mb', '512'];

  beforeAll(() => {
    prepareBoxImage(CLI, env); // built (or found) before any call with a client-side timeout
    docker = new Docker({ socketPath: env.DOCKER_HOST!.replace(/^unix:\/\//, '') });
  }, 25 * 60_000);
  afterAll(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    // whatever a failed test left on the shared engine: this data dir's boxes only
    for (const c of await boxes().catch(() => []))
      await docker
        .getContainer(c.id)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function boxes(): Promise<Listed[]> {
    const list = await docker.listContainers({ all: true, filters: { label: [`${BOX_LABEL}=${instance}`] } });
    return list.map((c) => ({
      id: c.Id,
      session: c.Labels[`${BOX_LABEL}.session`] ?? '',
      state: c.State,
      createdS: c.Created,
    }));
  }

  /** The processes of a container, by command line. */
  async function commands(id: string): Promise<string[]> {
    const top = (await docker.getContainer(id).top({ ps_args: '-eo pid,args' })) as {
      Processes?: string[][];
    };
    return (top.Processes ?? []).map((p) => p.join(' '));
  }

  /** Running box containers of this data dir none of `taken` holds, whose kernel runs (a pooled box nearly ready). */
  async function pooledBoxes(taken: Set<string>, count: number): Promise<Listed[]> {
    return until(
      async () => {
        const free = (await boxes()).filter((b) => b.state === 'running' && !taken.has(b.session));
        if (free.length < count) return null;
        for (const b of free) if (!(await commands(b.id)).some((c) => c.includes('kernel.py'))) return null;
        return free;
      },
      `${count} pooled box containers with a running kernel`,
      POOL_READY_MS,
    );
  }

  async function execIn(id: string, cmd: string[]): Promise<string> {
    const ex = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    docker.modem.demuxStream(stream, out, new PassThrough().resume());
    await once(stream, 'end');
    return Buffer.concat(chunks).toString('utf8');
  }

  const cpuShares = async (id: string): Promise<number | undefined> =>
    (await docker.getContainer(id).inspect()).HostConfig.CpuShares;

  const sc = async (c: Client, name: string, a: Record<string, unknown>): Promise<Record<string, any>> => {
    const r = await c.callTool({ name, arguments: a });
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content).slice(0, 500)}`);
    return r.structuredContent as Record<string, any>;
  };

  /**
   * A session taken while the pooled containers listed run: the one it got, or null when create_session started a
   * box of its own (a pooled box not ready yet: that session is closed and the caller asks again).
   */
  async function takePooled(c: Client, taken: Set<string>): Promise<{ sid: string; box: Listed }> {
    return until(
      async () => {
        const ready = await pooledBoxes(taken, 1);
        const before = Date.now() / 1000;
        const sid = (await sc(c, 'create_session', {})).session_id as string;
        const box = ready.find((b) => b.session === sid);
        if (box) {
          expect(box.createdS).toBeLessThanOrEqual(before);
          return { sid, box };
        }
        await sc(c, 'close_session', { session_id: sid });
        await new Promise((r) => setTimeout(r, 500));
        return null;
      },
      'a create_session served by a pooled container',
      POOL_READY_MS,
      0,
    );
  }

  describe('one server', () => {
    let server: Server;
    let client: Client;
    /** Every session the tests took, so a later take looks only at containers still pooled. */
    const sessions: Array<{ sid: string; box: Listed }> = [];
    const taken = () => new Set(sessions.map((s) => s.sid));
    beforeAll(async () => {
      server = await startHttpProcess({ dataDir, args, env });
      stops.push(stopOf(server));
      client = await connectHttp(server.url, server.token);
    });

    it('hands out a container started before the call, runs the first execute in it, and raises its share', async () => {
      const waiting = await pooledBoxes(new Set(), 2);
      // The pool's containers wait at the lowest CPU share.
      for (const b of waiting) expect(await cpuShares(b.id), b.session).toBe(BACKGROUND_CPU_SHARES_V1);

      const got = await takePooled(client, taken());
      sessions.push(got);
      const marker = `taken-${got.sid}`;
      const r = await sc(client, 'execute', {
        session_id: got.sid,
        code: `open('/tmp/marker', 'w').write(${JSON.stringify(marker)})\nimport os\nsorted(os.listdir('.'))`,
      });
      expect(r.isolation).toBe('docker');
      expect(r.error ?? null).toBeNull();
      // The cell ran in that very container: its private /tmp holds what the cell wrote.
      expect(await execIn(got.box.id, ['cat', '/tmp/marker'])).toBe(marker);
      // Handed out: the engine gives it the share every session's box has, and so does its cgroup.
      await until(
        async () => (await cpuShares(got.box.id)) === CPU_SHARES_V1,
        'the CPU share raised on hand-out',
        10_000,
      );
      const inBox = await sc(client, 'execute', {
        session_id: got.sid,
        code: [
          'import os',
          "p = [f for f in ('/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/cpu,cpuacct/cpu.shares') if os.path.exists(f)]",
          "print(open(p[0]).read().strip() if p else 'v2:' + open('/sys/fs/cgroup/cpu.weight').read().strip())",
        ].join('\n'),
      });
      const seen = String(inBox.stdout).trim();
      if (seen.startsWith('v2:')) expect(seen).not.toBe('v2:1');
      else expect(Number(seen)).toBe(CPU_SHARES_V1);
    });

    it('never hands two sessions the same container or workspace', async () => {
      const first = await takePooled(client, taken());
      sessions.push(first);
      await sc(client, 'execute', { session_id: first.sid, code: "open('mine.txt', 'w').write('first')" });
      const second = await takePooled(client, taken());
      sessions.push(second);
      expect(second.sid).not.toBe(first.sid);
      expect(second.box.id).not.toBe(first.box.id);
      const mounts = async (id: string) =>
        (await docker.getContainer(id).inspect()).Mounts.filter((m) => m.Destination === '/workspace').map(
          (m) => m.Source,
        );
      expect(await mounts(first.box.id)).toEqual([join(dataDir, 'sessions', first.sid, 'workspace')]);
      expect(await mounts(second.box.id)).toEqual([join(dataDir, 'sessions', second.sid, 'workspace')]);
      // A fresh workspace of its own: nothing of the first session's, and its /tmp is its own too.
      const r = await sc(client, 'execute', {
        session_id: second.sid,
        code: "import os\nprint(os.path.exists('mine.txt'), os.path.exists('/tmp/marker'))",
      });
      expect(String(r.stdout).trim()).toBe('False False');
      expect(existsSync(join(dataDir, 'sessions', first.sid, 'workspace', 'mine.txt'))).toBe(true);
      expect(existsSync(join(dataDir, 'sessions', second.sid, 'workspace', 'mine.txt'))).toBe(false);
    });

    it('leaves no box container when the server exits', async () => {
      // the refill has started its containers: they go too
      await pooledBoxes(taken(), 2);
      await client.close();
      await server.stop();
      await until(async () => (await boxes()).length === 0, 'no box container of this data dir', 15_000);
    });
  });

  it("ends a killed server's containers by themselves, pooled or in use", async () => {
    const killed = await startHttpProcess({ dataDir, args, env });
    stops.push(stopOf(killed));
    const c = await connectHttp(killed.url, killed.token);
    const used = await takePooled(c, new Set());
    const left = [used.box, ...(await pooledBoxes(new Set([used.sid]), 2))];
    killed.child.kill('SIGKILL');
    await once(killed.child, 'exit');
    await c.close().catch(() => undefined);
    // No server runs on this data dir now: the boxes end because theirs is gone.
    await until(
      async () => {
        const now = new Set((await boxes()).map((b) => b.id));
        return left.every((b) => !now.has(b.id));
      },
      "the killed server's containers gone",
      20_000,
    );
  });

  it('removes what a killed server left at the next start, before its own pool starts', async () => {
    // A box container of this data dir that outlived its server (an engine that kept it while nobody listened).
    const leftover = await docker.createContainer({
      name: `sandbox-mcp-${instance}-s_leftover`,
      Image: BASE_IMAGE,
      Entrypoint: [],
      Cmd: ['sleep', '3600'],
      Labels: { [BOX_LABEL]: instance, [`${BOX_LABEL}.session`]: 's_leftover' },
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none', AutoRemove: true },
    });
    await leftover.start();
    const next = await startHttpProcess({ dataDir, args, env });
    stops.push(stopOf(next));
    await until(
      async () => !(await boxes()).some((b) => b.id === leftover.id),
      'the left-over container removed',
      20_000,
    );
    // The new server's own pool survives the sweep and serves.
    const c = await connectHttp(next.url, next.token);
    const got = await takePooled(c, new Set());
    const r = await sc(c, 'execute', { session_id: got.sid, code: '6 * 7' });
    expect(r.result['text/plain']).toBe('42');
    await c.close();
    await next.stop();
    await until(async () => (await boxes()).length === 0, 'no box container of this data dir', 15_000);
  });
});
