// Progress notifications for one tool call: values that strictly increase, as MCP requires, and a heartbeat while
// the call runs, so that clients which reset their request timeout on progress keep waiting for a long call.

/** How often a call that reports nothing else sends a heartbeat: below the shortest common client timeout (the
 * MCP Inspector's 10 s, which it resets on progress). */
export const HEARTBEAT_MS = 5000;

export type SendProgress = (params: Record<string, unknown>) => void;

export interface CallProgressOptions {
  /** `message` on progress notifications came with protocol 2025-03-26; older clients get none. */
  withMessage: boolean;
  heartbeatMs?: number;
}

/**
 * One call's progress. Steps a tool counts itself (files of a backup, 3 steps of an export) go out as given; text
 * progress (output lines) is numbered; the heartbeat fills the silence with values between the integers, so a
 * later step or line still goes up. Without a progress token from the client, nothing is ever sent.
 */
export class CallProgress {
  private last = 0;
  private total: number | undefined;
  private lastSentAt = performance.now();
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: SendProgress | undefined,
    private readonly opts: CallProgressOptions,
  ) {}

  get active(): boolean {
    return this.send !== undefined;
  }

  /** A step the tool counts itself, of `total` when known. A value that does not go up is raised just enough. */
  step(value: number, total?: number, message?: string): void {
    if (total !== undefined) this.total = total;
    this.emit(value > this.last ? value : this.between(), message);
  }

  /** A line of text (output, installer lines): the next whole number. */
  text(message: string): void {
    this.emit(Math.floor(this.last) + 1, message);
  }

  /** Starts the heartbeat; `stop` ends it (call it when the call ends, whatever the outcome). */
  start(): void {
    if (!this.send || this.timer) return;
    const every = this.opts.heartbeatMs ?? HEARTBEAT_MS;
    this.timer = setInterval(() => {
      if (performance.now() - this.lastSentAt < every * 0.9) return;
      const s = Math.round((performance.now() - this.startedAt) / 1000);
      // With a total the value must stay below the next step the tool will report; without, count on.
      const value = this.total === undefined ? Math.floor(this.last) + 1 : this.between();
      this.emit(value, `still running (${s} s)`);
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Halfway between the last value and the next whole number: above the last, below any step still to come. */
  private between(): number {
    return this.last + (Math.floor(this.last) + 1 - this.last) / 2;
  }

  private emit(value: number, message: string | undefined): void {
    if (!this.send || !(value > this.last)) return;
    this.last = value;
    this.lastSentAt = performance.now();
    const params: Record<string, unknown> = { progress: value };
    if (this.total !== undefined) params['total'] = Math.max(this.total, value);
    if (message !== undefined && this.opts.withMessage) params['message'] = message;
    this.send(params);
  }
}
