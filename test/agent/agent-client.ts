// Test helper: spawns src/agent/agent.py with the kernel lane and speaks its JSON-line protocol (docs/AGENT_PROTOCOL.md).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KernelLane, KernelRestartedError } from '../../src/sandbox/kernel-lane.js';
import type { AgentFinal, KernelExit } from '../../src/sandbox/protocol.js';

export const AGENT_PY = fileURLToPath(new URL('../../src/agent/agent.py', import.meta.url));
export const PYTHON = '/usr/bin/python3';

export interface StreamResult {
  text: string;
  truncated: boolean;
  bytes: number;
  saved_path: string | null;
}

export interface AgentError {
  code: string;
  ename?: string;
  evalue?: string;
  message: string;
  traceback?: string[];
  line?: number | null;
  column?: number | null;
  excerpt?: string | null;
  reason?: string;
  module?: string | null;
  sys_path?: string[];
  hint?: string;
  text?: string | null;
}

export interface ReadyMessage {
  type: 'ready';
  pid: number;
  kernel_pid: number;
  python: string;
  restored: boolean;
}

export interface FinalMessage {
  type: 'final';
  id: string | null;
  status: 'ok' | 'error' | 'timeout' | 'interrupted' | 'killed';
  execution_count?: number | null;
  duration_ms?: number;
  stdout?: StreamResult;
  stderr?: StreamResult;
  state_preserved?: boolean;
  kernel_restarted?: boolean;
  signal?: number | null;
  exit_code?: number;
  usage?: { cpu_user_ms: number; cpu_system_ms: number; max_rss_kb: number } | null;
  error?: AgentError | null;
  info?: Record<string, unknown>;
}

export type AgentEvent =
  | { type: 'stream'; id: string; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display_data'; id: string; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | {
      type: 'execute_result';
      id: string;
      execution_count: number;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | { type: 'error'; id: string; error: AgentError };

export interface Reply {
  final: FinalMessage;
  events: AgentEvent[];
}

export interface ExecuteOptions {
  timeout_ms?: number;
  grace_ms?: number;
  output_cap?: number;
}

export interface StartOptions {
  /** Command line to run instead of `python3 -I -u agent.py` (e.g. wrapped in bwrap). */
  command?: string[];
  env?: Record<string, string>;
  /** Headless matplotlib: MPLBACKEND=Agg and a throwaway MPLCONFIGDIR (font cache) that close() removes. */
  matplotlib?: boolean;
  /** What a saved long output may hold (the box's file-size limit; the agent gets SANDBOX_RLIMIT_FSIZE). */
  saveLimitBytes?: number;
}

interface Waiter {
  events: AgentEvent[];
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

export class AgentClient {
  readonly workspace: string;
  ready!: ReadyMessage;
  stderr = '';
  private readonly waiters = new Map<string, Waiter>();
  private nextId = 1;
  private executionCount = 0;
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  readonly lane: KernelLane;

  private constructor(
    private readonly proc: ChildProcess,
    workspace: string,
    /** Temporary directories removed by close(), the workspace first. */
    private readonly ownedDirs: string[],
    saveLimitBytes = 1 << 30,
  ) {
    this.workspace = workspace;
    this.lane = new KernelLane(
      {
        lane: (proc.stdio as unknown as Socket[])[4]!,
        stdout: (proc.stdio as unknown as Socket[])[5]!,
        stderr: (proc.stdio as unknown as Socket[])[6]!,
      },
      {
        interrupt: () => this.send({ id: `k${this.nextId++}`, op: 'kernel_interrupt' }),
        kill: () => this.send({ id: `k${this.nextId++}`, op: 'kernel_kill' }),
        killStrays: async () => {
          await this.request('kernel_strays').reply.catch(() => undefined);
        },
      },
      workspace,
      saveLimitBytes,
    );
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code) => {
        this.exitCode = code;
        const err = new Error(`agent exited (${code}): ${this.stderr}`);
        for (const w of this.waiters.values()) w.reject(err);
        this.waiters.clear();
        this.lane.close(err);
        resolve(code);
      });
    });
  }

  static async start(options: StartOptions = {}): Promise<AgentClient> {
    const workspace = mkdtempSync(join(tmpdir(), 'agent-test-'));
    const ownedDirs = [workspace];
    const env: Record<string, string> = {};
    if (options.saveLimitBytes !== undefined) env.SANDBOX_RLIMIT_FSIZE = String(options.saveLimitBytes);
    if (options.matplotlib) {
      const mplDir = mkdtempSync(join(tmpdir(), 'agent-mpl-'));
      ownedDirs.push(mplDir);
      Object.assign(env, { MPLBACKEND: 'Agg', MPLCONFIGDIR: mplDir });
    }
    const [file, ...args] = options.command ?? [PYTHON, '-I', '-u', AGENT_PY];
    const proc = spawn(file as string, args, {
      cwd: workspace,
      env: { ...process.env, SANDBOX_WORKSPACE: workspace, ...env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    const client = new AgentClient(proc, workspace, ownedDirs, options.saveLimitBytes);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (s: string) => {
      client.stderr += s;
    });
    const ready = new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${client.stderr}`)), 20_000);
      proc.on('exit', (code) => reject(new Error(`agent exited (${code}) before ready: ${client.stderr}`)));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const msg = JSON.parse(line) as { type: string; id?: string | null };
        if (msg.type === 'ready') {
          // Ready once the kernel's hello is on the lane too.
          void client.lane.ready().then(() => {
            clearTimeout(timer);
            resolve(msg as ReadyMessage);
          });
          return;
        }
        client.dispatch(msg);
      });
    });
    try {
      client.ready = await ready;
    } catch (err) {
      // The caller gets no client to close, so nothing may be left behind.
      proc.kill('SIGKILL');
      for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return client;
  }

  /** Raw lines already parsed; routes events and finals to the request they belong to. */
  private dispatch(msg: { type: string; id?: string | null }): void {
    if (msg.type === 'kernel_exit') {
      this.lane.onKernelExit(msg as unknown as KernelExit);
      return;
    }
    const w = this.waiters.get(msg.id ?? '');
    if (!w) return;
    if (msg.type === 'final') {
      this.waiters.delete(msg.id ?? '');
      w.resolve({ final: msg as FinalMessage, events: w.events });
    } else {
      w.events.push(msg as AgentEvent);
    }
  }

  /** Writes a request with no answer of its own (interrupt); an interrupt of a kernel request goes to the lane. */
  send(obj: Record<string, unknown>): void {
    if (obj.op === 'interrupt' && this.lane.interrupt(obj.target as string | undefined)) return;
    this.proc.stdin!.write(JSON.stringify(obj) + '\n');
  }

  request(
    op: string,
    fields: Record<string, unknown> = {},
    onEvent?: (ev: AgentEvent) => void,
  ): { id: string; reply: Promise<Reply> } {
    const id = `r${this.nextId++}`;
    if (op === 'execute' || op === 'info' || op === 'clear_cache')
      return { id, reply: this.laneRequest(id, op, fields, onEvent) };
    const reply = new Promise<Reply>((resolve, reject) => {
      this.waiters.set(id, { events: [], resolve, reject });
    });
    this.send({ ...fields, id, op });
    return { id, reply };
  }

  /** What Box does for these: the kernel answers on the lane; info adds the agent's own facts. */
  private async laneRequest(
    id: string,
    op: string,
    fields: Record<string, unknown>,
    onEvent?: (ev: AgentEvent) => void,
  ): Promise<Reply> {
    if (op === 'execute') {
      const events: AgentEvent[] = [];
      const final = await this.lane.execute(
        { id, ...(fields as Omit<Parameters<KernelLane['execute']>[0], 'id'>) },
        (ev) => {
          events.push(ev as AgentEvent);
          onEvent?.(ev as AgentEvent);
        },
      );
      return { final: final as unknown as FinalMessage, events };
    }
    if (op === 'clear_cache') {
      let final: AgentFinal;
      try {
        const r = await this.lane.reply(id, { op, ...fields });
        final = { type: 'final', id, status: 'ok', result: r.result };
      } catch (err) {
        if (!(err instanceof KernelRestartedError)) throw err;
        final = {
          type: 'final',
          id,
          status: 'error',
          error: { code: 'kernel_restarted', message: err.message } as never,
        };
      }
      return { final: final as unknown as FinalMessage, events: [] };
    }
    const agent = await new Promise<Reply>((resolve, reject) => {
      const aid = `a${this.nextId++}`;
      this.waiters.set(aid, { events: [], resolve, reject });
      this.proc.stdin!.write(JSON.stringify({ id: aid, op: 'info' }) + '\n');
    });
    const kernel = await this.lane.info(id).catch(() => ({ ...this.lane.cachedInfo, stale: true }));
    const info = {
      ...kernel,
      ...agent.final.info,
      kernel_pid: this.lane.kernelPid,
      execution_count: this.lane.lastCount,
    };
    return { final: { type: 'final', id, status: 'ok', info } as FinalMessage, events: [] };
  }

  /** Starts an execute; onEvent sees each of its events as it arrives (output while the cell still runs). */
  startExecute(
    code: string,
    opts: ExecuteOptions = {},
    onEvent?: (ev: AgentEvent) => void,
  ): { id: string; executionCount: number; reply: Promise<Reply> } {
    const executionCount = ++this.executionCount;
    const { id, reply } = this.request(
      'execute',
      {
        code,
        timeout_ms: 20_000,
        grace_ms: 1000,
        output_cap: 32768,
        execution_count: executionCount,
        ...opts,
      },
      onEvent,
    );
    return { id, executionCount, reply };
  }

  execute(code: string, opts: ExecuteOptions = {}): Promise<Reply> {
    return this.startExecute(code, opts).reply;
  }

  async close(): Promise<void> {
    if (this.exitCode === undefined) {
      this.proc.stdin!.write(JSON.stringify({ id: 'shutdown', op: 'shutdown' }) + '\n');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const dir of this.ownedDirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** text/plain of the execute_result in a reply, if any. */
export function resultText(r: Reply): string | undefined {
  const ev = r.events.find((e) => e.type === 'execute_result');
  return ev && ev.type === 'execute_result' ? (ev.data['text/plain'] as string) : undefined;
}

export function streamText(r: Reply, name: 'stdout' | 'stderr'): string {
  return r.events
    .filter((e): e is Extract<AgentEvent, { type: 'stream' }> => e.type === 'stream' && e.name === name)
    .map((e) => e.text)
    .join('');
}
