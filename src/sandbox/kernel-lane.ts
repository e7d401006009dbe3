// The server's side of the kernel lane: execute, info and clear_cache go straight to the box's kernel and back, the
// kernel's stdout and stderr are captured here, and the timeout sequence is driven through the agent.
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { LineSplitter } from '../line-splitter.js';
import { OutputCapture } from './output-capture.js';
import type {
  AgentEvent,
  AgentFinal,
  AgentUsage,
  FinalStatus,
  KernelExit,
  StreamCapture,
} from './protocol.js';
import { LaneMessageSchema, MAX_BOX_LINE_BYTES, parseBoxLine, type LaneMessage } from './protocol-schema.js';

/** What the lane asks of the agent, which alone can signal and replace the kernel. */
export interface LaneSupervisor {
  /** SIGINT to the kernel. */
  interrupt(): void;
  /** Kill the kernel and all it started; the agent then reports the exit and starts the next kernel. */
  kill(): void;
  /** Kill what a stopped cell left running, the kernel excepted. */
  killStrays(): Promise<void>;
  /** The box broke the protocol (err says how): stop it; the lane has already ended its own calls. */
  fail?(err: SandboxError): void;
}

export interface LaneExecute {
  id: string;
  code: string;
  execution_count: number;
  timeout_ms: number;
  grace_ms: number;
  output_cap: number;
  /**
   * The workspace listing comes with `done` (a Docker volume box, workspace-sync.ts); the kernel is told the timeout
   * too, so that its walk ends before the timeout would stop the cell.
   */
  list_workspace?: boolean;
}

export interface LaneIo {
  lane: Readable & Writable;
  stdout: Readable;
  stderr: Readable;
}

interface Cell {
  req: LaneExecute;
  onEvent: ((ev: AgentEvent) => void) | undefined;
  resolve: (f: AgentFinal) => void;
  reject: (e: Error) => void;
  out: { stdout: OutputCapture; stderr: OutputCapture };
  t0: number;
  sent: boolean;
  /** Set once the cell is ending: a second end (a late exit report) is ignored. */
  ending: boolean;
  reason: 'timeout' | 'interrupted' | null;
  timers: NodeJS.Timeout[];
  flushTimer: NodeJS.Timeout | undefined;
  lastFlush: number;
}

interface Waiter {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

const BATCH_MS = 100;
const STRAY_KEEP = 4096;

/** Everything written before the kernel's answer is in the output sockets by then: one poll phase reads it. */
function afterPendingReads(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

function label(req: LaneExecute): string {
  return String(req.execution_count);
}

export class KernelLane {
  private readonly lines: LineSplitter;
  /** Lines from kernels older than this generation are a dead kernel's and are dropped. */
  private minGen = 1;
  private syncing = true;
  private readyWaiters: Array<() => void> = [];
  private readonly cells: Cell[] = [];
  private readonly calls = new Map<string, Waiter>();
  private kernelInfo: Record<string, unknown> = {};
  private cpuTotalMs = 0;
  private closedWith: Error | null = null;
  private strayErr = '';
  lastCount: number | null = null;
  kernelPid: number | null = null;
  /** Kernels that have exited so far (each report counted once): a change means Python state was lost. */
  kernelExits = 0;

  constructor(
    private readonly io: LaneIo,
    private readonly sup: LaneSupervisor,
    private readonly workspace: string,
    /** The most of one stream saved to its file (the box's file-size limit). */
    private readonly saveLimitBytes: number,
  ) {
    this.lines = new LineSplitter(MAX_BOX_LINE_BYTES, {
      line: (line) => this.onLine(line),
      overflow: () => this.fail(`a line longer than ${MAX_BOX_LINE_BYTES} bytes`, 'kernel'),
    });
    io.lane.on('data', (chunk: Buffer) => this.lines.push(chunk));
    io.lane.on('error', () => undefined);
    io.stdout.on('data', (b: Buffer) => this.onOutput('stdout', b));
    io.stderr.on('data', (b: Buffer) => this.onOutput('stderr', b));
    io.stdout.on('error', () => undefined);
    io.stderr.on('error', () => undefined);
  }

  /** Resolves once a kernel serves (its hello read). */
  ready(): Promise<void> {
    if (!this.syncing) return Promise.resolve();
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  get busy(): boolean {
    return this.cells.length > 0;
  }

  /** What the kernel last said about itself (hello or info). */
  get cachedInfo(): Record<string, unknown> {
    return this.kernelInfo;
  }

  /** The kernel's stderr seen outside any cell (start-up failures), for diagnostics. */
  get strayStderr(): string {
    return this.strayErr;
  }

  execute(req: LaneExecute, onEvent?: (ev: AgentEvent) => void): Promise<AgentFinal> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<AgentFinal>((resolve, reject) => {
      const save = { workspace: this.workspace, label: label(req), limitBytes: this.saveLimitBytes };
      // A saved file that falls behind stops the reading, so the kernel waits instead of the server's memory filling.
      const pressure = (sock: Readable) => (pause: boolean) => void (pause ? sock.pause() : sock.resume());
      this.cells.push({
        req,
        onEvent,
        resolve,
        reject,
        out: {
          stdout: new OutputCapture('stdout', req.output_cap, save, pressure(this.io.stdout)),
          stderr: new OutputCapture('stderr', req.output_cap, save, pressure(this.io.stderr)),
        },
        t0: performance.now(),
        sent: false,
        ending: false,
        reason: null,
        timers: [],
        flushTimer: undefined,
        lastFlush: 0,
      });
      if (this.cells.length === 1) this.sendNext();
    });
  }

  /** Stops the running cell (or drops a queued one) with this id, or the running one when id is undefined. */
  interrupt(id?: string): boolean {
    const i = id === undefined ? 0 : this.cells.findIndex((c) => c.req.id === id);
    const cell = this.cells[i];
    if (!cell) return false;
    if (cell.sent) {
      this.stop(cell, 'interrupted');
      return true;
    }
    this.cells.splice(i, 1);
    cell.resolve(this.finalOf(cell, 'interrupted', emptyStream(), emptyStream(), {}));
    return true;
  }

  /** The kernel's own report (python, sys.path, venv); while a cell runs, the last one, marked stale. */
  async info(id: string): Promise<Record<string, unknown>> {
    if (this.busy || this.syncing) return { ...this.kernelInfo, stale: true };
    const msg = await this.call(id, { op: 'info', id });
    return msg;
  }

  /** Sends a request the kernel answers with a 'reply' (clear_cache); it waits for a running cell. */
  async reply(id: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.ready();
    return await this.call(id, { ...req, id });
  }

  /** The agent reported the kernel gone: end the running cell with what the kernel left, then wait for the next. */
  onKernelExit(ev: KernelExit): void {
    if (ev.gen < this.minGen) return;
    this.minGen = ev.gen + 1;
    this.kernelExits++;
    this.syncing = true;
    for (const [id, w] of this.calls) {
      this.calls.delete(id);
      w.reject(new KernelRestartedError());
    }
    const cell = this.cells[0];
    if (!cell?.sent || cell.ending) return;
    cell.ending = true;
    void afterPendingReads().then(() =>
      this.end(cell, cell.reason ?? 'killed', {
        state_preserved: false,
        kernel_restarted: true,
        signal: ev.signal,
        ...(ev.exit_code !== null ? { exit_code: ev.exit_code } : {}),
        usage: this.usageAfterDeath(ev),
      }),
    );
  }

  /**
   * The box broke the protocol: a line that is not a valid message, one too long, or a hello while a kernel serves
   * (it would make the lane ignore the serving kernel's death). The running cell ends with an error that says so,
   * every other call fails with it, and the box is stopped (the session's next call starts a new one). What the
   * kernel says cannot be told from what the code it runs says, so no line of a box is trusted past this point.
   */
  fail(reason: string, from: 'kernel' | 'agent'): void {
    if (this.closedWith) return;
    const err = new SandboxError(
      'internal',
      `the sandbox broke its protocol: the ${from === 'kernel' ? "Python kernel's channel" : 'agent'} sent ${reason}. ` +
        'The sandbox was stopped and the next call starts a new one: Python state is lost, workspace files are kept',
      { protocol_error: reason, from },
    );
    const cell = this.cells[0];
    const running = cell?.sent && !cell.ending ? cell : undefined;
    if (running) {
      running.ending = true;
      this.cells.shift();
    }
    this.close(err);
    this.sup.fail?.(err);
    if (running) {
      void this.end(running, 'error', {
        state_preserved: false,
        kernel_restarted: true,
        error: {
          code: 'runtime_error',
          ename: 'SandboxProtocolError',
          evalue: reason,
          message: err.message,
          traceback: [],
        },
      });
    }
  }

  /** The box is gone: every waiting call fails with err. */
  close(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const cell of this.cells.splice(0)) {
      for (const t of cell.timers) clearTimeout(t);
      if (cell.flushTimer) clearTimeout(cell.flushTimer);
      cell.out.stdout.discard();
      cell.out.stderr.discard();
      cell.reject(err);
    }
    for (const w of this.calls.values()) w.reject(err);
    this.calls.clear();
  }

  // --- internals ----------------------------------------------------------------------------------------------

  private call(id: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.write(req);
    });
  }

  private write(obj: unknown): void {
    this.io.lane.write(JSON.stringify(obj) + '\n');
  }

  /** Sends the first queued cell now when a kernel serves, else once one does. */
  private sendNext(): void {
    const cell = this.cells[0];
    if (!cell || cell.sent) return;
    if (this.syncing) {
      this.ready().then(
        () => this.sendNext(),
        () => undefined, // closed: close() rejected the cell
      );
      return;
    }
    cell.sent = true;
    cell.t0 = performance.now();
    cell.lastFlush = cell.t0;
    this.lastCount = cell.req.execution_count;
    const { id, code, execution_count, list_workspace, timeout_ms } = cell.req;
    this.write({
      op: 'execute',
      id,
      code,
      execution_count,
      ...(list_workspace ? { list_workspace, timeout_ms } : {}),
    });
    if (cell.req.timeout_ms > 0) {
      cell.timers.push(setTimeout(() => this.stop(cell, 'timeout'), cell.req.timeout_ms));
    }
  }

  private stop(cell: Cell, reason: 'timeout' | 'interrupted'): void {
    if (cell.reason !== null || cell.ending) return;
    cell.reason = reason;
    this.sup.interrupt();
    cell.timers.push(
      setTimeout(
        () => {
          if (!cell.ending && this.cells[0] === cell) this.sup.kill();
        },
        Math.max(0, cell.req.grace_ms),
      ),
    );
  }

  private onOutput(name: 'stdout' | 'stderr', data: Buffer): void {
    const cell = this.cells[0];
    if (cell?.sent) {
      cell.out[name].feed(data);
      if (!cell.flushTimer && cell.onEvent) {
        const wait = Math.max(0, cell.lastFlush + BATCH_MS - performance.now());
        cell.flushTimer = setTimeout(() => {
          cell.flushTimer = undefined;
          this.flushStreams(cell, false);
        }, wait);
      }
    } else if (name === 'stderr') {
      // Output between cells belongs to no request; stderr is kept to explain a kernel that cannot start.
      this.strayErr = (this.strayErr + data.toString('utf8')).slice(-STRAY_KEEP);
    }
  }

  private flushStreams(cell: Cell, final: boolean): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const text = cell.out[name].takeEvents(final);
      if (text) cell.onEvent?.({ type: 'stream', id: cell.req.id, name, text });
    }
    cell.lastFlush = performance.now();
  }

  private onLine(line: string): void {
    if (!line || this.closedWith) return; // the kernel starts with a newline that ends a dead one's last line
    const parsed = parseBoxLine(LaneMessageSchema, line);
    if (!parsed.ok) {
      // While no kernel serves, what arrives is the end of a line a killed kernel left half-written.
      if (!this.syncing) this.fail(parsed.reason, 'kernel');
      return;
    }
    const msg = parsed.msg;
    if (msg.type === 'hello') {
      if (!this.syncing) {
        this.fail('a hello while a kernel was serving', 'kernel');
      } else if (msg.gen >= this.minGen) {
        this.minGen = msg.gen;
        this.syncing = false;
        this.kernelInfo = msg.info;
        this.kernelPid = msg.pid;
        this.cpuTotalMs = 0;
        const waiters = this.readyWaiters.splice(0);
        for (const w of waiters) w();
      }
      return;
    }
    if (this.syncing) return; // a dead kernel's last words
    // A valid message for no call now answers nothing: a display of an earlier cell's thread, a request the dead
    // kernel left unread and the next one answered, or the real end of a cell whose code wrote its own. Only the
    // running cell can be ended, so code in the kernel can end its own call but never answer another.
    const cell = this.cells[0];
    const current = cell?.sent && !cell.ending ? cell : undefined;
    switch (msg.type) {
      case 'display_data':
      case 'execute_result':
        if (current && msg.id === current.req.id) {
          this.flushStreams(current, false);
          current.onEvent?.(msg as AgentEvent);
        }
        return;
      case 'done':
        if (!current || msg.id !== current.req.id) return;
        current.ending = true;
        if (msg.cpu_total_ms !== undefined) this.cpuTotalMs = msg.cpu_total_ms;
        void this.onDone(current, msg);
        return;
      case 'info':
      case 'reply': {
        const w = this.calls.get(msg.id);
        if (!w) return;
        this.calls.delete(msg.id);
        if (msg.type === 'info') {
          this.kernelInfo = msg.info;
          w.resolve(this.kernelInfo);
        } else {
          w.resolve({ result: msg.result });
        }
        return;
      }
    }
  }

  private async onDone(cell: Cell, msg: Extract<LaneMessage, { type: 'done' }>): Promise<void> {
    // The kernel says whether its output sockets still hold bytes this process has not read; only then wait.
    if (msg.unread_output !== 0) await afterPendingReads();
    let status: FinalStatus = msg.status;
    if (cell.reason !== null) {
      status = cell.reason;
      // The kernel survived the stop: what the cell started (a fork bomb's copies) goes, then the kernel reaps.
      await this.sup.killStrays();
      this.write({ op: 'reap' });
    }
    const extra: Partial<AgentFinal> = { error: msg.error };
    if (msg.usage) extra.usage = msg.usage;
    if (cell.req.list_workspace) extra.workspace_listing = msg.workspace_listing ?? null;
    await this.end(cell, status, extra);
  }

  private async end(cell: Cell, status: FinalStatus, extra: Partial<AgentFinal>): Promise<void> {
    for (const t of cell.timers) clearTimeout(t);
    if (cell.flushTimer) clearTimeout(cell.flushTimer);
    this.flushStreams(cell, true);
    const error = extra.error ?? null;
    if (error) cell.onEvent?.({ type: 'error', id: cell.req.id, error });
    const { stdout: out, stderr: err } = cell.out;
    // Short output ends the cell without a file write, and so without waiting.
    const stdout = out.spilled ? await out.result() : out.shortResult();
    const stderr = err.spilled ? await err.result() : err.shortResult();
    if (this.cells[0] === cell) this.cells.shift();
    cell.resolve(this.finalOf(cell, status, stdout, stderr, extra));
    this.sendNext();
  }

  private finalOf(
    cell: Cell,
    status: FinalStatus,
    stdout: StreamCapture,
    stderr: StreamCapture,
    extra: Partial<AgentFinal>,
  ): AgentFinal {
    return {
      type: 'final',
      id: cell.req.id,
      status,
      execution_count: cell.req.execution_count,
      duration_ms: cell.sent ? Math.round((performance.now() - cell.t0) * 1000) / 1000 : 0,
      stdout,
      stderr,
      state_preserved: true,
      kernel_restarted: false,
      signal: null,
      error: null,
      ...extra,
    };
  }

  private usageAfterDeath(ev: KernelExit): AgentUsage | undefined {
    if (ev.cpu_user_ms === null || ev.cpu_system_ms === null) return undefined;
    let user = ev.cpu_user_ms;
    let system = ev.cpu_system_ms;
    // The dead kernel's whole life: remove what earlier cells used.
    const total = user + system;
    if (total > 0 && this.cpuTotalMs > 0) {
      const keep = Math.max(total - this.cpuTotalMs, 0) / total;
      user *= keep;
      system *= keep;
    }
    return {
      cpu_user_ms: Math.round(user * 1000) / 1000,
      cpu_system_ms: Math.round(system * 1000) / 1000,
      max_rss_kb: ev.max_rss_kb ?? 0,
    };
  }
}

export class KernelRestartedError extends Error {
  constructor() {
    super('the Python kernel stopped before it answered');
  }
}

function emptyStream(): StreamCapture {
  return { text: '', truncated: false, bytes: 0, saved_path: null };
}
