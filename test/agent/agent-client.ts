// Test helper: spawns src/agent/agent.py and speaks its JSON-line protocol (docs/AGENT_PROTOCOL.md).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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

  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    workspace: string,
    /** Temporary directories removed by close(), the workspace first. */
    private readonly ownedDirs: string[],
  ) {
    this.workspace = workspace;
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code) => {
        this.exitCode = code;
        for (const w of this.waiters.values()) w.reject(new Error(`agent exited (${code}): ${this.stderr}`));
        this.waiters.clear();
        resolve(code);
      });
    });
  }

  static async start(options: StartOptions = {}): Promise<AgentClient> {
    const workspace = mkdtempSync(join(tmpdir(), 'agent-test-'));
    const ownedDirs = [workspace];
    const env: Record<string, string> = {};
    if (options.matplotlib) {
      const mplDir = mkdtempSync(join(tmpdir(), 'agent-mpl-'));
      ownedDirs.push(mplDir);
      Object.assign(env, { MPLBACKEND: 'Agg', MPLCONFIGDIR: mplDir });
    }
    const [file, ...args] = options.command ?? [PYTHON, '-I', '-u', AGENT_PY];
    const proc = spawn(file as string, args, {
      cwd: workspace,
      env: { ...process.env, SANDBOX_WORKSPACE: workspace, ...env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const client = new AgentClient(proc, workspace, ownedDirs);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (s: string) => {
      client.stderr += s;
    });
    const ready = new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${client.stderr}`)), 20_000);
      proc.on('exit', (code) => reject(new Error(`agent exited (${code}) before ready: ${client.stderr}`)));
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const msg = JSON.parse(line) as { type: string; id?: string | null };
        if (msg.type === 'ready') {
          clearTimeout(timer);
          resolve(msg as ReadyMessage);
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
    const w = this.waiters.get(msg.id ?? '');
    if (!w) return;
    if (msg.type === 'final') {
      this.waiters.delete(msg.id ?? '');
      w.resolve({ final: msg as FinalMessage, events: w.events });
    } else {
      w.events.push(msg as AgentEvent);
    }
  }

  /** Writes a request with no answer of its own (interrupt). */
  send(obj: Record<string, unknown>): void {
    this.proc.stdin.write(JSON.stringify(obj) + '\n');
  }

  request(op: string, fields: Record<string, unknown> = {}): { id: string; reply: Promise<Reply> } {
    const id = `r${this.nextId++}`;
    const reply = new Promise<Reply>((resolve, reject) => {
      this.waiters.set(id, { events: [], resolve, reject });
    });
    this.send({ ...fields, id, op });
    return { id, reply };
  }

  startExecute(
    code: string,
    opts: ExecuteOptions = {},
  ): { id: string; executionCount: number; reply: Promise<Reply> } {
    const executionCount = ++this.executionCount;
    const { id, reply } = this.request('execute', {
      code,
      timeout_ms: 20_000,
      grace_ms: 1000,
      output_cap: 32768,
      execution_count: executionCount,
      ...opts,
    });
    return { id, executionCount, reply };
  }

  execute(code: string, opts: ExecuteOptions = {}): Promise<Reply> {
    return this.startExecute(code, opts).reply;
  }

  async close(): Promise<void> {
    if (this.exitCode === undefined) {
      this.send({ id: 'shutdown', op: 'shutdown' });
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
