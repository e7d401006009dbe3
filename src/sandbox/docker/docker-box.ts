// One running Docker box: a container of the box image whose pid 1 (docker_init.py) carries the agent's stdio, the
// kernel lane and the kernel's output as frames over the container's attach stream; the same public face as Box,
// with the same agent channel.
import { Duplex, Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors.js';
import { AgentChannel } from '../agent-channel.js';
import { AgentChannelBox } from '../agent-channel-box.js';
import { boxOwner } from '../../box-user.js';
import { ensureBoxOwnership } from '../box-ownership.js';
import { BOX_WORKSPACE } from '../bwrap-argv.js';
import type { Box, BoxOptions, BoxUsage, Mechanisms } from '../box.js';
import type { AgentReady, AgentRequest } from '../protocol.js';
import { boxThreads, threadPoolEnv } from '../thread-pools.js';
import { createBoxContainer } from './container-create.js';
import { boxSeccompProgram, containerSpec } from './container-spec.js';
import { connectEngine, type Engine } from './engine.js';
import type { DockerEndpoint } from './endpoint.js';
import { encodeFrame, FrameReader, FROM_BOX, TO_BOX } from './frames.js';
import { boxImage } from './image.js';
import { BoxTunnels, planTunnels } from './tunnel-box.js';
import { CPU_SHARES_V1 } from '../cgroups.js';
import { chooseWorkspace, hostBinds, VolumeWorkspace, type WorkspaceAsk } from './workspace-sync-box.js';

export interface DockerSettings {
  endpoint: DockerEndpoint | null;
  /** `--docker-image`: an image with python3 to put the agent on, instead of building the shipped Dockerfile. */
  image?: string | undefined;
  baseImage: string;
  /** This data dir's key: container names and labels carry it. */
  instance: string;
  progress?: ((line: string) => void) | undefined;
  /** `--docker-workspace`: a bind mount of the host folder, or a volume synced through the engine (workspace-sync.ts). */
  workspace?: WorkspaceAsk | undefined;
  log?: ((msg: string, extra: Record<string, unknown>) => void) | undefined;
}

/** The public face of Box (its public members), which DockerBox provides. */
export type BoxFace = { [K in keyof Box]: Box[K] };

interface Report {
  oom_kills?: number;
  memory_bytes?: number | null;
  memory_peak_bytes?: number | null;
  pids?: number | null;
}

/** A readable (and for the lane, writable) end whose 'data' is delivered as frames arrive, in frame order. */
class Channel extends Duplex {
  constructor(
    private readonly send: ((chunk: Buffer) => void) | null,
    private readonly flow: (pause: boolean) => void,
  ) {
    super();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send?.(chunk);
    cb();
  }
  deliver(chunk: Buffer): void {
    this.emit('data', chunk);
  }
  override pause(): this {
    this.flow(true);
    return this;
  }
  override resume(): this {
    this.flow(false);
    return this;
  }
}

/** The Python that runs the agent in the container: a session venv's (under /workspace), else the image's. */
function boxPython(python: string): string {
  return python.startsWith(`${BOX_WORKSPACE}/`) ? python : '/usr/bin/python3';
}

export class DockerBox extends AgentChannelBox implements BoxFace {
  readonly mechanisms: Mechanisms;
  ready!: AgentReady;
  private report: Report = {};
  /** Set when /workspace is a volume: calls that run code are synced around (workspace-sync-box.ts). */
  private volume: VolumeWorkspace | null = null;
  /** Set when /workspace is a volume and the box has app or proxy sockets: they cross by exec (tunnel-box.ts). */
  private tunnels: BoxTunnels | null = null;
  /** A warm-pool box still at the lowest CPU share (foreground() raises it). */
  private background = false;
  private log: DockerSettings['log'];

  private constructor(
    private readonly container: Dockerode.Container,
    private readonly stdin: NodeJS.WritableStream,
  ) {
    super();
    this.mechanisms = { isolation: 'docker', memory: 'cgroup', pids: 'cgroup', seccomp: true };
  }

  static async start(opts: BoxOptions, settings: DockerSettings): Promise<DockerBox> {
    const engine = await connectEngine(settings.endpoint);
    const seccomp = boxSeccompProgram(engine.facts); // before anything is made for the box
    const mode = chooseWorkspace(engine, settings.workspace ?? 'auto');
    // a volume box has no socket bind mounts: its app and proxy sockets cross through exec streams
    const tunnel = mode === 'volume' ? planTunnels(opts) : null;
    const binds = hostBinds(engine, tunnel?.opts ?? opts);
    const image = await boxImage(engine, {
      agentDir: opts.agentDir,
      image: settings.image,
      baseImage: settings.baseImage,
      progress: settings.progress,
    });
    ensureBoxOwnership([opts.workspace, opts.mplConfigDir, ...(opts.extraRwBinds ?? []).map((b) => b.host)]);
    const owner = boxOwner();
    const volume =
      mode === 'volume'
        ? await VolumeWorkspace.create(
            engine,
            { instance: settings.instance, image, uid: owner.uid, gid: owner.gid },
            opts,
            settings.log,
          )
        : null;
    const spec = containerSpec({
      image,
      name: opts.name,
      instance: settings.instance,
      workspace: opts.workspace,
      mplConfigDir: opts.mplConfigDir,
      python: boxPython(opts.python),
      user: { uid: owner.uid, gid: owner.gid },
      limits: opts.limits,
      env: {
        PYTHONUNBUFFERED: '1',
        ...threadPoolEnv(boxThreads(opts.limits.cpuQuota)),
        ...(tunnel?.opts ?? opts).env,
      },
      network: opts.network ?? 'none',
      ...binds,
      seccomp,
      volumes: volume?.volumes,
      background: opts.background,
    });
    const started = (box: DockerBox) => {
      box.background = opts.background === true;
      box.log = settings.log;
      return box;
    };
    if (!volume)
      return started(await DockerBox.attachAndStart(engine, await createBoxContainer(engine, spec), opts));
    let container: Dockerode.Container | null = null;
    try {
      container = await createBoxContainer(engine, spec);
      await volume.seed(container);
      const box = await DockerBox.attachAndStart(engine, container, opts);
      box.volume = volume;
      if (tunnel && (tunnel.proxy || tunnel.apps)) {
        const target = { container, user: { uid: owner.uid, gid: owner.gid } };
        box.tunnels = await BoxTunnels.start(target, tunnel, () => !box.exited, settings.log).catch(
          (err: unknown) => {
            box.kill();
            throw err;
          },
        );
      }
      return started(box);
    } catch (err) {
      if (container) await removeByRef(container);
      await volume.remove();
      throw err;
    }
  }

  private static async attachAndStart(
    engine: Engine,
    container: Dockerode.Container,
    opts: BoxOptions,
  ): Promise<DockerBox> {
    const stream = (await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as NodeJS.ReadWriteStream & Duplex;
    stream.on('error', () => undefined);
    const box = new DockerBox(container, stream);
    const send = (channel: number) => (chunk: Buffer) => box.write(channel, chunk);
    let paused = 0;
    const flow = (pause: boolean) => {
      paused = Math.max(0, paused + (pause ? 1 : -1));
      if (paused > 0) stream.pause();
      else stream.resume();
    };
    const io = {
      lane: new Channel(send(TO_BOX.lane), flow),
      stdout: new Channel(null, flow),
      stderr: new Channel(null, flow),
    };
    let started = false;
    return await new Promise<DockerBox>((resolve, reject) => {
      let settled = false;
      let stderr = '';
      const startMs = opts.startTimeoutMs ?? 30_000;
      const channel = new AgentChannel({
        io,
        workspace: opts.workspace,
        fileSizeBytes: opts.limits.fileSizeBytes,
        send: (line) => box.write(TO_BOX.agent, line),
        kill: () => box.kill(),
        onReady: (ready) => {
          box.ready = ready;
          settle(null);
        },
      });
      box.channel = channel;
      const timer = setTimeout(() => {
        box.kill();
        settle(
          new SandboxError('internal', `the Docker sandbox did not start within ${startMs} ms`, {
            stderr: stderr + channel.lane.strayStderr,
          }),
        );
      }, startMs);
      // a start that failed or was given up waits for the engine to confirm its container is gone
      let removing: Promise<void> | null = null;
      // the server closing while a pooled box starts (preloads): the container goes at once, not after its start
      const abandon = () => {
        box.exited = true;
        removing = removeAndWait(container);
        settle(new SandboxError('internal', 'the Docker sandbox start was abandoned'));
      };
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abandon);
        if (err) void (removing ?? Promise.resolve()).then(() => reject(err));
        else {
          started = true;
          resolve(box);
        }
      };
      const frames = new FrameReader(
        (from, payload) => {
          if (from === FROM_BOX.agent) channel.push(payload);
          else if (from === FROM_BOX.lane) io.lane.deliver(payload);
          else if (from === FROM_BOX.stdout) io.stdout.deliver(payload);
          else if (from === FROM_BOX.stderr) io.stderr.deliver(payload);
          else box.onReport(payload);
        },
        (reason) => channel.lane.fail(reason, 'agent'),
      );
      const out = new Writable({
        write(chunk: Buffer, _enc, cb) {
          frames.push(chunk);
          cb();
        },
      });
      const err = new Writable({
        write(chunk: Buffer, _enc, cb) {
          const text = chunk.toString('utf8');
          if (started) box.appendStderr(text);
          else stderr = (stderr + text).slice(-8192);
          cb();
        },
      });
      engine.docker.modem.demuxStream(stream, out, err);
      const exited = (code: number | null) => {
        if (!settled) {
          const e =
            channel.startError ??
            new SandboxError('internal', `the Docker sandbox exited during start (code ${code})`, {
              stderr: (stderr + channel.lane.strayStderr).slice(-4000),
            });
          channel.close(e);
          settle(e);
        }
        box.onContainerExit(code);
      };
      if (opts.signal?.aborted) {
        abandon();
        return;
      }
      opts.signal?.addEventListener('abort', abandon, { once: true });
      container.start().then(
        () => {
          container.wait().then(
            (r: { StatusCode?: number }) => exited(r.StatusCode ?? null),
            () => exited(null),
          );
        },
        (e: unknown) => {
          box.exited = true;
          removing = removeAndWait(container);
          settle(
            new SandboxError(
              'isolation_unavailable',
              `could not start the Docker sandbox: ${e instanceof Error ? e.message : String(e)}`,
            ),
          );
        },
      );
      stream.on('end', () => exited(null));
    });
  }

  /** The container's OOM-kill count, as its pid 1 last reported it (before every kernel exit and cell end). */
  oomKills(): number {
    this.lastOomCount = this.report.oom_kills ?? this.lastOomCount;
    return this.lastOomCount;
  }

  usage(): BoxUsage {
    this.write(TO_BOX.report, ''); // the next read is fresher
    return { memory_bytes: this.report.memory_bytes ?? null, ...this.callUsage() };
  }

  callUsage(): Omit<BoxUsage, 'memory_bytes'> {
    return {
      memory_peak_bytes: this.report.memory_peak_bytes ?? null,
      pids: this.report.pids ?? null,
      oom_kills: this.lastOomCount,
    };
  }

  override request(...[req, onEvent, hardTimeoutMs]: Parameters<AgentChannelBox['request']>) {
    const send = (r: AgentRequest) => super.request(r, onEvent, hardTimeoutMs);
    const interrupt = (target: string) => super.notify({ op: 'interrupt', target });
    return this.volume ? this.volume.request(req, send, interrupt) : send(req);
  }

  override notify(req: AgentRequest): void {
    if (this.volume && req.op === 'interrupt') {
      const target = this.volume.sync.interruptTarget(req.target);
      if (target !== null) super.notify({ ...req, target });
      return;
    }
    super.notify(req);
  }

  override appConnector(appId: string): (() => Duplex) | null {
    return this.tunnels?.appConnector(appId) ?? null;
  }

  async close(): Promise<void> {
    this.tunnels?.close();
    this.tunnels = null;
    await this.shutdown();
    // the server exits, or the session's next box starts, only once the engine has removed this one
    await removeAndWait(this.container);
    await this.volume?.remove();
  }

  /** A pooled box handed to a session: the engine gives its container the CPU share every box has. */
  override foreground(): void {
    if (!this.background) return;
    this.background = false;
    this.container.update({ CpuShares: CPU_SHARES_V1 }).catch((err: unknown) => {
      // it still works, only slower while other boxes are busy
      this.log?.('a pooled Docker box kept its background CPU share', { err: String(err) });
    });
  }

  kill(): void {
    void this.container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
  }

  private write(channel: number, data: Buffer | string): void {
    if (this.exited) return;
    this.stdin.write(encodeFrame(channel, data));
  }

  private onReport(payload: Buffer): void {
    try {
      const r = JSON.parse(payload.toString('utf8')) as Report;
      if (r && typeof r === 'object') this.report = r;
    } catch {
      // a report is advisory: a bad one is ignored
    }
  }

  private onContainerExit(code: number | null): void {
    if (this.exited) return;
    const signal = code !== null && code > 128 ? (code === 137 ? 'SIGKILL' : null) : null;
    this.exitWith(`code ${code}`, signal ? null : code, signal);
  }
}

async function removeByRef(container: Dockerode.Container): Promise<void> {
  await container.remove({ force: true }).catch(() => undefined);
}

/** How long a box that ends waits for the engine to confirm its container removed (a busy engine takes seconds). */
const REMOVED_WAIT_MS = 3000;

/** Removes the container (killing what runs in it) and waits until the engine has removed it, or REMOVED_WAIT_MS. */
async function removeAndWait(container: Dockerode.Container): Promise<void> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), REMOVED_WAIT_MS);
  const removed = container.wait({ condition: 'removed', abortSignal: stop.signal }).catch(() => undefined);
  await removeByRef(container);
  await Promise.race([removed, new Promise((r) => stop.signal.addEventListener('abort', r, { once: true }))]);
  clearTimeout(timer);
  stop.abort();
}

/** Removes every box container of this instance (at start, after a crash); resolves with how many. */
export async function removeLeftoverContainers(settings: DockerSettings): Promise<number> {
  const engine = await connectEngine(settings.endpoint);
  const list = await engine.docker.listContainers({
    all: true,
    filters: { label: [`dev.sandbox-mcp.box=${settings.instance}`] },
  });
  await Promise.all(list.map((c) => removeByRef(engine.docker.getContainer(c.Id))));
  return list.length;
}
