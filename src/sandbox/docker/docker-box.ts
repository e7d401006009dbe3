// One running Docker box: a container of the box image whose pid 1 (docker_init.py) carries the agent's stdio, the
// kernel lane and the kernel's output as frames over the container's attach stream; the same public face as Box.
import { randomUUID } from 'node:crypto';
import { Duplex, Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors.js';
import { LineSplitter } from '../../line-splitter.js';
import { boxOwner, ensureBoxOwnership } from '../box-user.js';
import { BOX_WORKSPACE } from '../bwrap-argv.js';
import type { Box, BoxOptions, BoxUsage, Mechanisms } from '../box.js';
import { KernelLane, KernelRestartedError } from '../kernel-lane.js';
import type { AgentEvent, AgentFinal, AgentReady, AgentRequest } from '../protocol.js';
import { AgentLineSchema, MAX_BOX_LINE_BYTES, parseBoxLine, type AgentLine } from '../protocol-schema.js';
import { boxThreads, threadPoolEnv } from '../thread-pools.js';
import { containerName, containerSpec } from './container-spec.js';
import { connectEngine, type Engine } from './engine.js';
import type { DockerEndpoint } from './endpoint.js';
import { encodeFrame, FrameReader, FROM_BOX, TO_BOX } from './frames.js';
import { boxImage } from './image.js';

export interface DockerSettings {
  endpoint: DockerEndpoint | null;
  /** `--docker-image`: an image with python3 to put the agent on, instead of building the shipped Dockerfile. */
  image?: string | undefined;
  baseImage: string;
  /** This data dir's key: container names and labels carry it. */
  instance: string;
  progress?: ((line: string) => void) | undefined;
}

/** The public face of Box (its public members), which DockerBox provides. */
export type BoxFace = { [K in keyof Box]: Box[K] };

interface Pending {
  onEvent: ((ev: AgentEvent) => void) | undefined;
  resolve: (final: AgentFinal) => void;
  reject: (err: Error) => void;
}

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

export class DockerBox implements BoxFace {
  readonly mechanisms: Mechanisms;
  ready!: AgentReady;
  private lane!: KernelLane;
  private readonly pending = new Map<string, Pending>();
  private exited = false;
  private broken = false;
  private exitListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  private stderrTail = '';
  private report: Report = {};
  private lastOomCount = 0;

  private constructor(
    private readonly container: Dockerode.Container,
    private readonly stdin: NodeJS.WritableStream,
  ) {
    this.mechanisms = { isolation: 'docker', memory: 'cgroup', pids: 'cgroup', seccomp: true };
  }

  static async start(opts: BoxOptions, settings: DockerSettings): Promise<DockerBox> {
    const engine = await connectEngine(settings.endpoint);
    if (!engine.endpoint.local) {
      throw new SandboxError(
        'isolation_unavailable',
        `the Docker engine at ${engine.endpoint.host} is remote: workspaces are bind mounts, which need an engine on this machine`,
        { docker_host: engine.endpoint.host },
        'use a local engine (a unix socket: Docker Desktop, OrbStack, Colima, Podman, dockerd)',
      );
    }
    const image = await boxImage(engine, {
      agentDir: opts.agentDir,
      image: settings.image,
      baseImage: settings.baseImage,
      progress: settings.progress,
    });
    ensureBoxOwnership([opts.workspace, opts.mplConfigDir, ...(opts.extraRwBinds ?? []).map((b) => b.host)]);
    const owner = boxOwner();
    const spec = containerSpec({
      image,
      name: opts.name,
      instance: settings.instance,
      workspace: opts.workspace,
      mplConfigDir: opts.mplConfigDir,
      python: boxPython(opts.python),
      user: { uid: owner.uid, gid: owner.gid },
      limits: opts.limits,
      env: { PYTHONUNBUFFERED: '1', ...threadPoolEnv(boxThreads(opts.limits.cpuQuota)), ...opts.env },
      network: opts.network ?? 'none',
      extraRoBinds: opts.extraRoBinds,
      extraRwBinds: opts.extraRwBinds,
    });
    await removeContainer(engine, containerName(settings.instance, opts.name));
    const container = await engine.docker.createContainer(spec);
    return await DockerBox.attachAndStart(engine, container, opts);
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
    let brokeWith: SandboxError | undefined;
    const lane = new KernelLane(
      io,
      {
        interrupt: () => box.notify({ op: 'kernel_interrupt' }),
        kill: () => box.notify({ op: 'kernel_kill' }),
        killStrays: () =>
          box.request({ op: 'kernel_strays' }, undefined, 30_000).done.then(
            () => undefined,
            () => undefined,
          ),
        fail: (err) => {
          if (started) box.fail(err);
          else {
            brokeWith ??= err;
            box.kill();
          }
        },
      },
      opts.workspace,
      opts.limits.fileSizeBytes,
    );
    box.lane = lane;
    return await new Promise<DockerBox>((resolve, reject) => {
      let settled = false;
      let stderr = '';
      const startMs = opts.startTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        box.kill();
        settle(
          new SandboxError('internal', `the Docker sandbox did not start within ${startMs} ms`, {
            stderr: stderr + lane.strayStderr,
          }),
        );
      }, startMs);
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else {
          started = true;
          resolve(box);
        }
      };
      const onAgentLine = (line: string) => {
        if (!line || brokeWith || box.broken) return;
        const parsed = parseBoxLine(AgentLineSchema, line);
        if (!parsed.ok) {
          lane.fail(parsed.reason, 'agent');
          return;
        }
        const msg = parsed.msg;
        if (started) box.dispatch(msg);
        else if (msg.type === 'ready' && !box.readySeen) {
          box.readySeen = true;
          lane.ready().then(
            () => {
              box.ready = {
                type: 'ready',
                pid: msg.pid,
                kernel_pid: lane.kernelPid ?? msg.kernel_pid ?? 0,
                python: msg.python,
              };
              settle(null);
            },
            () => undefined,
          );
        } else if (msg.type === 'kernel_exit') lane.onKernelExit(msg);
      };
      const agentLines = new LineSplitter(MAX_BOX_LINE_BYTES, {
        line: onAgentLine,
        overflow: () => lane.fail(`a line longer than ${MAX_BOX_LINE_BYTES} bytes`, 'agent'),
      });
      const frames = new FrameReader(
        (channel, payload) => {
          if (channel === FROM_BOX.agent) agentLines.push(payload);
          else if (channel === FROM_BOX.lane) io.lane.deliver(payload);
          else if (channel === FROM_BOX.stdout) io.stdout.deliver(payload);
          else if (channel === FROM_BOX.stderr) io.stderr.deliver(payload);
          else box.onReport(payload);
        },
        (reason) => lane.fail(reason, 'agent'),
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
            brokeWith ??
            new SandboxError('internal', `the Docker sandbox exited during start (code ${code})`, {
              stderr: (stderr + lane.strayStderr).slice(-4000),
            });
          lane.close(e);
          settle(e);
        }
        box.onContainerExit(code);
      };
      container.start().then(
        () => {
          container.wait().then(
            (r: { StatusCode?: number }) => exited(r.StatusCode ?? null),
            () => exited(null),
          );
        },
        (e: unknown) => {
          box.exited = true;
          void removeByRef(container);
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

  private readySeen = false;

  get alive(): boolean {
    return !this.exited && !this.broken;
  }

  request(
    req: AgentRequest,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): { id: string; done: Promise<AgentFinal> } {
    const id = randomUUID();
    if (!this.alive) {
      return { id, done: Promise.reject(new SandboxError('internal', 'the sandbox is not running')) };
    }
    if (req.op === 'execute' || req.op === 'info' || req.op === 'clear_cache') {
      return { id, done: this.laneRequest(id, req, onEvent, hardTimeoutMs) };
    }
    return { id, done: this.agentRequest(id, req, onEvent, hardTimeoutMs) };
  }

  private agentRequest(
    id: string,
    req: AgentRequest,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): Promise<AgentFinal> {
    const done = new Promise<AgentFinal>((resolve, reject) => {
      const timer = hardTimeoutMs !== undefined ? setTimeout(() => this.kill(), hardTimeoutMs) : undefined;
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        onEvent,
        resolve: (f) => {
          finish();
          resolve(f);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      });
    });
    this.write(TO_BOX.agent, JSON.stringify({ id, ...req }) + '\n');
    return done;
  }

  private async laneRequest(
    id: string,
    req: Extract<AgentRequest, { op: 'execute' | 'info' | 'clear_cache' }>,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): Promise<AgentFinal> {
    const timer = hardTimeoutMs !== undefined ? setTimeout(() => this.kill(), hardTimeoutMs) : undefined;
    try {
      if (req.op === 'execute') {
        const { op: _op, ...rest } = req;
        return await this.lane.execute({ id, ...rest }, onEvent);
      }
      if (req.op === 'clear_cache') {
        try {
          const r = await this.lane.reply(id, { op: 'clear_cache', important_only: req.important_only });
          return { type: 'final', id, status: 'ok', result: r.result };
        } catch (err) {
          if (!(err instanceof KernelRestartedError)) throw err;
          return {
            type: 'final',
            id,
            status: 'error',
            error: { code: 'kernel_restarted', message: err.message } as unknown as AgentFinal['error'],
          };
        }
      }
      const agent = this.agentRequest(randomUUID(), { op: 'info' });
      const kernel = await this.lane.info(id).catch((err: unknown) => {
        if (err instanceof KernelRestartedError) return { ...this.lane.cachedInfo, stale: true };
        throw err;
      });
      const own = (await agent).info ?? {};
      return {
        type: 'final',
        id,
        status: 'ok',
        info: { ...kernel, ...own, kernel_pid: this.lane.kernelPid, execution_count: this.lane.lastCount },
      };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  notify(req: AgentRequest): void {
    if (!this.alive) return;
    if (req.op === 'interrupt' && this.lane.interrupt(req.target)) return;
    this.write(TO_BOX.agent, JSON.stringify({ id: randomUUID(), ...req }) + '\n');
  }

  get kernelExits(): number {
    return this.lane.kernelExits;
  }

  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  get oomKillsAtLastCheck(): number {
    return this.lastOomCount;
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

  async close(): Promise<void> {
    if (this.exited) return;
    this.notify({ op: 'shutdown' });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.kill();
        resolve();
      }, 1000);
      this.onExit(() => {
        clearTimeout(t);
        resolve();
      });
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

  private appendStderr(chunk: string): void {
    this.stderrTail = (this.stderrTail + chunk).slice(-8192);
  }

  private dispatch(msg: AgentLine): void {
    if (msg.type === 'ready') return;
    if (msg.type === 'kernel_exit') {
      this.lane.onKernelExit(msg);
      return;
    }
    const p = msg.id === null ? undefined : this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'final') p.resolve(msg as AgentFinal);
    else p.onEvent?.(msg as AgentEvent);
  }

  private fail(err: SandboxError): void {
    if (this.broken) return;
    this.broken = true;
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    this.kill();
  }

  private onContainerExit(code: number | null): void {
    if (this.exited) return;
    this.exited = true;
    const err = new SandboxError('internal', `the sandbox exited (code ${code})`, {
      stderr: this.stderrTail.slice(-2000),
    });
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    this.lane.close(err);
    const signal = code !== null && code > 128 ? (code === 137 ? 'SIGKILL' : null) : null;
    for (const l of this.exitListeners) l(signal ? null : code, signal);
  }
}

async function removeByRef(container: Dockerode.Container): Promise<void> {
  await container.remove({ force: true }).catch(() => undefined);
}

/** Removes a container by name when it exists (a box of the same session a killed server left behind). */
async function removeContainer(engine: Engine, name: string): Promise<void> {
  await removeByRef(engine.docker.getContainer(name));
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
