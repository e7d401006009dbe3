// One running box: the jailed agent process of a session, its cgroup, the JSON-lines channel to the agent and the
// kernel lane. It never interprets results (the sessions service does) and never runs user code outside the jail
// unless the server was started with isolation 'none'.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { SandboxError } from '../errors.js';
import { LineSplitter } from '../line-splitter.js';
import { probeHostLayout, type HostLayout } from './bwrap-argv.js';
import { ensureBoxOwnership } from './box-user.js';
import { BoxCgroup } from './cgroups.js';
import { KernelLane, KernelRestartedError } from './kernel-lane.js';
import {
  buildLaunchCommand,
  feedLaunchFds,
  LAUNCH_CWD,
  LAUNCH_ENV,
  launchStdio,
  type LaunchCommand,
} from './launch.js';
import { planBoxLaunch } from './launch-plan.js';
import { boxThreads, threadPoolEnv } from './thread-pools.js';
import type { AgentEvent, AgentFinal, AgentReady, AgentRequest } from './protocol.js';
import { AgentLineSchema, MAX_BOX_LINE_BYTES, parseBoxLine, type AgentLine } from './protocol-schema.js';
import { hostSeccompArch, seccompProgram, seccompSupported } from './seccomp.js';

export interface BoxLimits {
  memoryBytes: number;
  pids: number;
  fileSizeBytes: number;
  openFiles: number;
  /** CPUs' worth of time per period; absent or 0: the box has its CPU share but no quota. */
  cpuQuota?: number | undefined;
}

export interface BoxOptions {
  /** Names the cgroup; the session id. */
  name: string;
  workspace: string;
  mplConfigDir: string;
  agentDir: string;
  isolation: 'bwrap' | 'none';
  bwrapPath: string;
  python: string;
  limits: BoxLimits;
  /** Extra environment for the box (already allowlisted by the caller). */
  env?: Record<string, string>;
  /** 'host' shares the host's network (the session's `full` policy); default: own namespace, loopback only. */
  network?: 'none' | 'host';
  extraRoBinds?: Array<{ host: string; box: string }>;
  extraRwBinds?: Array<{ host: string; box: string }>;
  startTimeoutMs?: number;
  /** Abandons the start: the box is killed and start() rejects (a server closing while a pooled box preloads). */
  signal?: AbortSignal;
}

export interface BoxUsage {
  memory_bytes: number | null;
  memory_peak_bytes: number | null;
  pids: number | null;
  oom_kills: number;
}

export interface Mechanisms {
  /** The box backend; 'docker' boxes come from src/sandbox/docker/. */
  isolation: 'bwrap' | 'docker' | 'none';
  memory: 'cgroup' | 'none';
  pids: 'cgroup' | 'none';
  seccomp: boolean;
}

interface Pending {
  onEvent: ((ev: AgentEvent) => void) | undefined;
  resolve: (final: AgentFinal) => void;
  reject: (err: Error) => void;
}

// Facts about this host, probed on the first box start: per bwrap binary, and the seccomp program (null when the
// kernel or the architecture cannot take it).
const hostLayouts = new Map<string, HostLayout>();
let seccompFilter: Buffer | null | undefined;

function hostLayoutFor(bwrapPath: string): HostLayout {
  let layout = hostLayouts.get(bwrapPath);
  if (!layout) {
    layout = probeHostLayout(bwrapPath);
    hostLayouts.set(bwrapPath, layout);
  }
  return layout;
}

function seccompFilterForHost(): Buffer | null {
  if (seccompFilter === undefined) {
    const arch = hostSeccompArch();
    seccompFilter = arch !== null && seccompSupported().ok ? seccompProgram(arch) : null;
  }
  return seccompFilter;
}

/**
 * Descriptors the box gets besides stdio: 3 the seccomp program (when used), 4 the lane, 5 and 6 the kernel's output,
 * 7 bwrap's options.
 */
const EXTRA_STDIO = 4;
const OPTIONS_FD = 7;

export class Box {
  readonly mechanisms: Mechanisms;
  private lane!: KernelLane;
  private readonly pending = new Map<string, Pending>();
  private exited = false;
  /** It sent a line that is not a valid message: it is being stopped, and takes no more requests. */
  private broken = false;
  private exitListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  private stderrTail = '';
  private lastOomCount = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly cgroup: BoxCgroup | null,
    mechanisms: Mechanisms,
    readonly ready: AgentReady,
  ) {
    this.mechanisms = mechanisms;
  }

  static async start(opts: BoxOptions): Promise<Box> {
    const cgroup = BoxCgroup.create(opts.name, {
      memoryBytes: opts.limits.memoryBytes,
      pids: opts.limits.pids,
      cpuQuota: opts.limits.cpuQuota,
    });
    const agentArgs = ['-I', '-u'];
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      MPLBACKEND: 'Agg',
      PYTHONUNBUFFERED: '1',
      SANDBOX_RLIMIT_FSIZE: String(opts.limits.fileSizeBytes),
      SANDBOX_RLIMIT_NOFILE: String(opts.limits.openFiles),
      ...threadPoolEnv(boxThreads(opts.limits.cpuQuota)),
      ...opts.env,
    };
    let launch: LaunchCommand;
    let filter: Buffer | null = null;
    if (opts.isolation === 'bwrap') {
      filter = seccompFilterForHost();
      const rw = [opts.workspace, opts.mplConfigDir, ...(opts.extraRwBinds ?? []).map((b) => b.host)];
      ensureBoxOwnership(rw);
      launch = planBoxLaunch({
        bwrapPath: opts.bwrapPath,
        spec: {
          workspace: opts.workspace,
          agentDir: opts.agentDir,
          mplConfigDir: opts.mplConfigDir,
          command: [opts.python, ...agentArgs, '/opt/sandbox-agent/agent.py'],
          env,
          network: opts.network ?? 'none',
          hostLayout: hostLayoutFor(opts.bwrapPath),
          ...(opts.extraRoBinds ? { extraRoBinds: opts.extraRoBinds } : {}),
          ...(opts.extraRwBinds ? { extraRwBinds: opts.extraRwBinds } : {}),
          ...(filter ? { seccompFd: 3 } : {}),
        },
        cgroupProcs: cgroup ? cgroup.procsFiles() : [],
        rlimits: { fileSizeBytes: opts.limits.fileSizeBytes, openFiles: opts.limits.openFiles },
        optionsFd: OPTIONS_FD,
      });
    } else {
      launch = buildLaunchCommand({
        bwrapPath: opts.python,
        bwrapArgv: [...agentArgs, `${opts.agentDir}/agent.py`],
        cgroupProcs: cgroup ? cgroup.procsFiles() : [],
        rlimits: { fileSizeBytes: opts.limits.fileSizeBytes, openFiles: opts.limits.openFiles },
      });
    }
    const childEnv: NodeJS.ProcessEnv =
      opts.isolation === 'bwrap'
        ? LAUNCH_ENV
        : {
            ...env,
            HOME: opts.workspace,
            MPLCONFIGDIR: opts.mplConfigDir,
            SANDBOX_WORKSPACE: opts.workspace,
          };
    const child = spawn(launch.file, launch.args, {
      cwd: opts.isolation === 'bwrap' ? LAUNCH_CWD : opts.workspace,
      env: childEnv,
      stdio: launchStdio(launch, [
        'pipe',
        'pipe',
        'pipe',
        filter ? 'pipe' : 'ignore',
        'pipe',
        'pipe',
        'pipe',
      ]),
    });
    feedLaunchFds(launch, child.stdio);
    // A write to a box that has just died fails with EPIPE: its exit is reported by the 'exit' handler, and an
    // unhandled stream error would end the server.
    child.stdin?.on('error', () => undefined);
    if (filter) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream | null;
      fd3?.on('error', () => undefined);
      fd3?.end(filter);
    }
    const mechanisms: Mechanisms = {
      isolation: opts.isolation,
      memory: cgroup?.memoryEnforced ? 'cgroup' : 'none',
      pids: cgroup?.pidsEnforced ? 'cgroup' : 'none',
      seccomp: filter !== null,
    };
    const io = {
      lane: child.stdio[EXTRA_STDIO] as import('node:net').Socket,
      stdout: child.stdio[EXTRA_STDIO + 1] as import('node:net').Socket,
      stderr: child.stdio[EXTRA_STDIO + 2] as import('node:net').Socket,
    };
    // The agent answers kernel_* requests; they go through the box once it exists.
    let started: Box | undefined;
    /** Set when the box broke the protocol before it was ready: its start fails with this. */
    let brokeWith: SandboxError | undefined;
    const lane = new KernelLane(
      io,
      {
        interrupt: () => started?.notify({ op: 'kernel_interrupt' }),
        kill: () => started?.notify({ op: 'kernel_kill' }),
        killStrays: () =>
          started
            ? started.request({ op: 'kernel_strays' }, undefined, 30_000).done.then(
                () => undefined,
                () => undefined,
              )
            : Promise.resolve(),
        fail: (err) => {
          if (started) {
            started.fail(err);
          } else {
            brokeWith ??= err;
            child.kill('SIGKILL');
          }
        },
      },
      opts.workspace,
      opts.limits.fileSizeBytes,
    );
    return await new Promise<Box>((resolve, reject) => {
      let box: Box | undefined;
      let agentReady: AgentReady | undefined;
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new SandboxError(
            'internal',
            `the sandbox did not start within ${opts.startTimeoutMs ?? 15000} ms`,
            { stderr: stderr + lane.strayStderr },
          ),
        );
      }, opts.startTimeoutMs ?? 15_000);
      const abandon = () => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new SandboxError('internal', 'the sandbox start was abandoned'));
      };
      if (opts.signal?.aborted) abandon();
      else opts.signal?.addEventListener('abort', abandon, { once: true });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (box) box.appendStderr(chunk);
        else stderr = (stderr + chunk).slice(-8192);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        cgroup?.destroy();
        reject(new SandboxError('isolation_unavailable', `could not start the sandbox: ${err.message}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abandon);
        if (!box) {
          cgroup?.destroy();
          const err =
            brokeWith ??
            new SandboxError('internal', `the sandbox exited during start (code ${code}, signal ${signal})`, {
              stderr: (stderr + lane.strayStderr).slice(-4000),
            });
          lane.close(err);
          reject(err);
          return;
        }
        box.onChildExit(code, signal);
      });
      // Every line of the agent is checked; one that is not a valid message is the box's failure (lane.fail).
      const onAgentLine = (line: string) => {
        if (!line || brokeWith || box?.broken) return;
        const parsed = parseBoxLine(AgentLineSchema, line);
        if (!parsed.ok) {
          lane.fail(parsed.reason, 'agent');
          return;
        }
        const msg = parsed.msg;
        if (box) {
          box.dispatch(msg);
        } else if (msg.type === 'ready' && !agentReady) {
          const ready: AgentReady = {
            type: 'ready',
            pid: msg.pid,
            kernel_pid: msg.kernel_pid ?? 0,
            python: msg.python,
          };
          agentReady = ready;
          // Ready means a kernel serves: wait for its hello on the lane too.
          lane.ready().then(
            () => {
              clearTimeout(timer);
              opts.signal?.removeEventListener('abort', abandon);
              box = new Box(child, cgroup, mechanisms, {
                ...ready,
                kernel_pid: lane.kernelPid ?? ready.kernel_pid,
              });
              box.lane = lane;
              started = box;
              resolve(box);
            },
            () => undefined,
          );
        } else if (msg.type === 'kernel_exit') {
          lane.onKernelExit(msg);
        }
      };
      const agentLines = new LineSplitter(MAX_BOX_LINE_BYTES, {
        line: onAgentLine,
        overflow: () => lane.fail(`a line longer than ${MAX_BOX_LINE_BYTES} bytes`, 'agent'),
      });
      child.stdout?.on('data', (chunk: Buffer) => agentLines.push(chunk));
    });
  }

  get alive(): boolean {
    return !this.exited && !this.broken;
  }

  /** Sends a request; resolves with the agent's final message. Events stream to onEvent. */
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
      let timer: NodeJS.Timeout | undefined;
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
      if (hardTimeoutMs !== undefined) {
        // The agent enforces a shell command's timeout; this backstop only fires when the agent itself is stuck.
        timer = setTimeout(() => this.kill(), hardTimeoutMs);
      }
    });
    this.child.stdin?.write(JSON.stringify({ id, ...req }) + '\n');
    return done;
  }

  /** Execute, info and clear_cache go to the kernel on the lane; the agent only adds its own facts to info. */
  private async laneRequest(
    id: string,
    req: Extract<AgentRequest, { op: 'execute' | 'info' | 'clear_cache' }>,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): Promise<AgentFinal> {
    // The lane enforces the call's timeout through the agent; this backstop only fires when the box is stuck.
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
          return { type: 'final', id, status: 'error', error: kernelRestarted(err) };
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

  /** Sends a request that has no answer of its own (interrupt). */
  notify(req: AgentRequest): void {
    if (!this.alive) return;
    if (req.op === 'interrupt' && this.lane.interrupt(req.target)) return;
    this.child.stdin?.write(JSON.stringify({ id: randomUUID(), ...req }) + '\n');
  }

  /** Kernels that have exited in this box so far, idle ones included: a change means Python state was lost. */
  get kernelExits(): number {
    return this.lane.kernelExits;
  }

  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  /** The cgroup's OOM-kill count as last read; reading is cheap but not free, so callers read it only when needed. */
  get oomKillsAtLastCheck(): number {
    return this.lastOomCount;
  }

  oomKills(): number {
    try {
      this.lastOomCount = this.cgroup?.oomKillCount() ?? 0;
    } catch {
      // The cgroup may be gone with the box.
    }
    return this.lastOomCount;
  }

  usage(): BoxUsage {
    return { memory_bytes: this.counter((cg) => cg.memoryCurrent()), ...this.callUsage() };
  }

  /** What every execute result carries: the peak and the process count (memory now is left out: one read less). */
  callUsage(): Omit<BoxUsage, 'memory_bytes'> {
    return {
      memory_peak_bytes: this.counter((cg) => cg.memoryPeak()),
      pids: this.counter((cg) => cg.pidsCurrent()),
      oom_kills: this.lastOomCount,
    };
  }

  private counter(read: (cg: BoxCgroup) => number | null): number | null {
    if (!this.cgroup) return null;
    try {
      return read(this.cgroup);
    } catch {
      return null;
    }
  }

  /** Asks the agent to stop, then kills whatever is left. */
  async close(): Promise<void> {
    if (!this.exited) {
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
    this.cgroup?.destroy();
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
    try {
      this.cgroup?.killAll();
    } catch {
      // The cgroup may already be gone.
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
    // Checked against the schema; a request's own fields (info, probe, result…) are its caller's to read.
    if (msg.type === 'final') p.resolve(msg as AgentFinal);
    else p.onEvent?.(msg as AgentEvent);
  }

  /** The box broke the protocol (the lane has ended its calls): fail the agent's, and stop the box. */
  private fail(err: SandboxError): void {
    if (this.broken) return;
    this.broken = true;
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    this.kill();
  }

  private onChildExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    const err = new SandboxError('internal', `the sandbox exited (code ${code}, signal ${signal})`, {
      stderr: this.stderrTail.slice(-2000),
    });
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    this.lane.close(err);
    try {
      this.cgroup?.killAll();
    } catch {
      // Already gone.
    }
    for (const l of this.exitListeners) l(code, signal);
  }
}

function kernelRestarted(err: Error): AgentFinal['error'] {
  return { code: 'kernel_restarted', message: err.message } as unknown as AgentFinal['error'];
}
