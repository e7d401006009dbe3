// One running box: the jailed agent process of a session, its cgroup, and its agent channel (the JSON lines to the
// agent and the kernel lane) over the process's pipes. It never interprets results (the sessions service does) and
// never runs user code outside the jail unless the server was started with isolation 'none'.
import { spawn, type ChildProcess } from 'node:child_process';
import { SandboxError } from '../errors.js';
import { AgentChannel } from './agent-channel.js';
import { AgentChannelBox } from './agent-channel-box.js';
import { probeHostLayout, type HostLayout } from './bwrap-argv.js';
import { ensureBoxOwnership } from './box-ownership.js';
import { BoxCgroup } from './cgroups.js';
import {
  buildLaunchCommand,
  feedLaunchFds,
  LAUNCH_CWD,
  LAUNCH_ENV,
  launchStdio,
  type LaunchCommand,
} from './launch.js';
import { planBoxLaunch } from './launch-plan.js';
import { limitMechanisms, type LimitMechanism } from './limit-stand-ins.js';
import { boxThreads, threadPoolEnv } from './thread-pools.js';
import type { AgentReady } from './protocol.js';
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
  /** Starts at the lowest CPU share until foreground() (a warm-pool box): its start and preload yield to sessions. */
  background?: boolean;
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
  /** 'rlimit': no cgroup here, an rlimit inside the box stands in (limit-stand-ins.ts). */
  memory: LimitMechanism;
  pids: LimitMechanism;
  seccomp: boolean;
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

export class Box extends AgentChannelBox {
  readonly mechanisms: Mechanisms;

  private constructor(
    private readonly child: ChildProcess,
    private readonly cgroup: BoxCgroup | null,
    channel: AgentChannel,
    mechanisms: Mechanisms,
    readonly ready: AgentReady,
  ) {
    super();
    this.channel = channel;
    this.mechanisms = mechanisms;
  }

  static async start(opts: BoxOptions): Promise<Box> {
    const cgroup = BoxCgroup.create(opts.name, {
      memoryBytes: opts.limits.memoryBytes,
      pids: opts.limits.pids,
      cpuQuota: opts.limits.cpuQuota,
      background: opts.background,
    });
    const agentArgs = ['-I', '-u'];
    const limitsBy = limitMechanisms(opts.isolation === 'bwrap', {
      memory: cgroup?.memoryEnforced ?? false,
      pids: cgroup?.pidsEnforced ?? false,
    });
    // Without a memory cgroup RLIMIT_DATA counts address space a BLAS thread pool reserves (~128 MiB per thread,
    // and OpenBLAS spins when refused it), so such a box runs its pools on one thread.
    const threads = limitsBy.memory === 'rlimit' ? 1 : boxThreads(opts.limits.cpuQuota);
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      MPLBACKEND: 'Agg',
      PYTHONUNBUFFERED: '1',
      SANDBOX_RLIMIT_FSIZE: String(opts.limits.fileSizeBytes),
      SANDBOX_RLIMIT_NOFILE: String(opts.limits.openFiles),
      ...threadPoolEnv(threads),
      ...opts.env,
      // Set by the agent inside the box (never by the launcher: see limit-stand-ins.ts), after opts.env so a
      // caller's environment cannot drop them.
      ...(limitsBy.memory === 'rlimit' ? { SANDBOX_RLIMIT_DATA: String(opts.limits.memoryBytes) } : {}),
      ...(limitsBy.pids === 'rlimit' ? { SANDBOX_RLIMIT_NPROC: String(opts.limits.pids) } : {}),
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
      memory: limitsBy.memory,
      pids: limitsBy.pids,
      seccomp: filter !== null,
    };
    const io = {
      lane: child.stdio[EXTRA_STDIO] as import('node:net').Socket,
      stdout: child.stdio[EXTRA_STDIO + 1] as import('node:net').Socket,
      stderr: child.stdio[EXTRA_STDIO + 2] as import('node:net').Socket,
    };
    return await new Promise<Box>((resolve, reject) => {
      let box: Box | undefined;
      let stderr = '';
      const channel = new AgentChannel({
        io,
        workspace: opts.workspace,
        fileSizeBytes: opts.limits.fileSizeBytes,
        send: (line) => child.stdin?.write(line),
        kill: () => (box ? box.kill() : child.kill('SIGKILL')),
        onReady: (ready) => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', abandon);
          box = new Box(child, cgroup, channel, mechanisms, ready);
          resolve(box);
        },
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new SandboxError(
            'internal',
            `the sandbox did not start within ${opts.startTimeoutMs ?? 15000} ms`,
            { stderr: stderr + channel.lane.strayStderr },
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
      // A failed start is reported once its cgroup is gone: a retry for the session takes the same name.
      const afterCgroup = (then: () => void) =>
        void (cgroup?.destroy() ?? Promise.resolve()).catch(() => undefined).then(then);
      child.on('error', (err) => {
        clearTimeout(timer);
        const failure = new SandboxError(
          'isolation_unavailable',
          `could not start the sandbox: ${err.message}`,
        );
        afterCgroup(() => reject(failure));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abandon);
        if (!box) {
          const err =
            channel.startError ??
            new SandboxError('internal', `the sandbox exited during start (code ${code}, signal ${signal})`, {
              stderr: (stderr + channel.lane.strayStderr).slice(-4000),
            });
          channel.close(err);
          afterCgroup(() => reject(err));
          return;
        }
        box.onChildExit(code, signal);
      });
      child.stdout?.on('data', (chunk: Buffer) => channel.push(chunk));
    });
  }

  /** The cgroup's OOM-kill count, read now. */
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
    await this.shutdown();
    await this.cgroup?.destroy();
  }

  override foreground(): void {
    this.cgroup?.foreground();
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
    // The cgroup may already be gone; close() waits for this kill before removing it.
    void this.cgroup?.killAll().catch(() => undefined);
  }

  private onChildExit(code: number | null, signal: NodeJS.Signals | null): void {
    void this.cgroup?.killAll().catch(() => undefined); // already gone: nothing to kill
    this.exitWith(`code ${code}, signal ${signal}`, code, signal);
  }
}
