// The server's end of one box's agent, the same for every backend: request ids and the calls awaiting their final
// message, every agent line checked against the protocol schemas (a bad one stops only this box), the kernel lane,
// and every waiting call failed at once when the box breaks the protocol or exits.
import { randomUUID } from 'node:crypto';
import { SandboxError } from '../errors.js';
import { LineSplitter } from '../line-splitter.js';
import { KernelLane, KernelRestartedError, type LaneIo } from './kernel-lane.js';
import type { AgentEvent, AgentFinal, AgentReady, AgentRequest } from './protocol.js';
import { AgentLineSchema, MAX_BOX_LINE_BYTES, parseBoxLine, type AgentLine } from './protocol-schema.js';

export interface AgentChannelOptions {
  /** The kernel lane and the kernel's output, as the backend carries them. */
  io: LaneIo;
  workspace: string;
  /** The box's file-size limit: the most of one kernel stream saved to its file. */
  fileSizeBytes: number;
  /** Writes one line (newline included) to the agent's stdin. */
  send(line: string): void;
  /** Kills the box at once: a broken protocol, or a request past its hard timeout. */
  kill(): void;
  /** The agent said it is ready and a kernel serves: the box has started. */
  onReady(ready: AgentReady): void;
}

interface Pending {
  onEvent: ((ev: AgentEvent) => void) | undefined;
  resolve: (final: AgentFinal) => void;
  reject: (err: Error) => void;
}

export class AgentChannel {
  readonly lane: KernelLane;
  private readonly pending = new Map<string, Pending>();
  private readonly lines: LineSplitter;
  private readySeen = false;
  private started = false;
  private closed = false;
  /** It sent a line that is not a valid message: it is being stopped, and takes no more requests. */
  private broken = false;
  /** Set when the box broke the protocol before it was ready: its start fails with this. */
  private brokeWith: SandboxError | undefined;

  constructor(private readonly opts: AgentChannelOptions) {
    // The agent alone signals and replaces the kernel; the lane asks it through here once the box has started.
    this.lane = new KernelLane(
      opts.io,
      {
        interrupt: () => this.started && this.notify({ op: 'kernel_interrupt' }),
        kill: () => this.started && this.notify({ op: 'kernel_kill' }),
        killStrays: () =>
          this.started
            ? this.request({ op: 'kernel_strays' }, undefined, 30_000).done.then(
                () => undefined,
                () => undefined,
              )
            : Promise.resolve(),
        fail: (err) => {
          if (this.started) {
            this.fail(err);
          } else {
            this.brokeWith ??= err;
            opts.kill();
          }
        },
      },
      opts.workspace,
      opts.fileSizeBytes,
    );
    this.lines = new LineSplitter(MAX_BOX_LINE_BYTES, {
      line: (line) => this.onLine(line),
      overflow: () => this.lane.fail(`a line longer than ${MAX_BOX_LINE_BYTES} bytes`, 'agent'),
    });
  }

  /** Bytes from the agent's stdout. */
  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  get alive(): boolean {
    return !this.closed && !this.broken;
  }

  /** Why the box's start fails when it broke the protocol before it was ready. */
  get startError(): SandboxError | undefined {
    return this.brokeWith;
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

  /** Sends a request that has no answer of its own (interrupt, shutdown). */
  notify(req: AgentRequest): void {
    if (!this.alive) return;
    if (req.op === 'interrupt' && this.lane.interrupt(req.target)) return;
    this.opts.send(JSON.stringify({ id: randomUUID(), ...req }) + '\n');
  }

  /** The box exited: every waiting call fails with err. */
  close(err: SandboxError): void {
    this.closed = true;
    this.rejectAll(err);
    this.lane.close(err);
  }

  private agentRequest(
    id: string,
    req: AgentRequest,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): Promise<AgentFinal> {
    const done = new Promise<AgentFinal>((resolve, reject) => {
      // The agent enforces a shell command's timeout; this backstop only fires when the agent itself is stuck.
      const timer =
        hardTimeoutMs !== undefined ? setTimeout(() => this.opts.kill(), hardTimeoutMs) : undefined;
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
    this.opts.send(JSON.stringify({ id, ...req }) + '\n');
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
    const timer = hardTimeoutMs !== undefined ? setTimeout(() => this.opts.kill(), hardTimeoutMs) : undefined;
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

  /** Every line of the agent is checked; one that is not a valid message is the box's failure (lane.fail). */
  private onLine(line: string): void {
    if (!line || this.brokeWith || this.broken) return;
    const parsed = parseBoxLine(AgentLineSchema, line);
    if (!parsed.ok) {
      this.lane.fail(parsed.reason, 'agent');
      return;
    }
    const msg = parsed.msg;
    if (msg.type === 'kernel_exit') {
      this.lane.onKernelExit(msg);
    } else if (msg.type === 'ready') {
      if (!this.started && !this.readySeen) this.onAgentReady(msg);
    } else if (this.started) {
      this.dispatch(msg);
    }
  }

  /** Ready means a kernel serves: the box has started once the kernel's hello is read on the lane too. */
  private onAgentReady(msg: Extract<AgentLine, { type: 'ready' }>): void {
    this.readySeen = true;
    this.lane.ready().then(
      () => {
        this.started = true;
        this.opts.onReady({
          type: 'ready',
          pid: msg.pid,
          kernel_pid: this.lane.kernelPid ?? msg.kernel_pid ?? 0,
          python: msg.python,
        });
      },
      () => undefined,
    );
  }

  private dispatch(msg: Exclude<AgentLine, { type: 'ready' | 'kernel_exit' }>): void {
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
    this.rejectAll(err);
    this.opts.kill();
  }

  private rejectAll(err: SandboxError): void {
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
  }
}

function kernelRestarted(err: Error): AgentFinal['error'] {
  return { code: 'kernel_restarted', message: err.message } as unknown as AgentFinal['error'];
}
