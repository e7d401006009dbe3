// What every box backend does the same way through its agent channel: requests, the box's liveness, kernel exits,
// exit listeners, the stderr tail, the polite shutdown and failing every waiting call when the box is gone. Box and
// DockerBox extend it.
import type { Duplex } from 'node:stream';
import { SandboxError } from '../errors.js';
import type { AgentChannel } from './agent-channel.js';
import type { AgentEvent, AgentFinal, AgentRequest } from './protocol.js';

export type ExitListener = (code: number | null, signal: NodeJS.Signals | null) => void;

export abstract class AgentChannelBox {
  protected channel!: AgentChannel;
  protected exited = false;
  protected lastOomCount = 0;
  private readonly exitListeners: ExitListener[] = [];
  private stderrTail = '';

  get alive(): boolean {
    return !this.exited && this.channel.alive;
  }

  /** Sends a request; resolves with the agent's final message. Events stream to onEvent. */
  request(
    req: AgentRequest,
    onEvent?: (ev: AgentEvent) => void,
    hardTimeoutMs?: number,
  ): { id: string; done: Promise<AgentFinal> } {
    return this.channel.request(req, onEvent, hardTimeoutMs);
  }

  /** Sends a request that has no answer of its own (interrupt). */
  notify(req: AgentRequest): void {
    this.channel.notify(req);
  }

  /** Kernels that have exited in this box so far, idle ones included: a change means Python state was lost. */
  get kernelExits(): number {
    return this.channel.lane.kernelExits;
  }

  onExit(listener: ExitListener): void {
    this.exitListeners.push(listener);
  }

  /** The OOM-kill count as last read; reading is cheap but not free, so callers read it only when needed. */
  get oomKillsAtLastCheck(): number {
    return this.lastOomCount;
  }

  /** Gives a box started in the background the CPU share every box has; a backend that starts none so does nothing. */
  foreground(): void {}

  /** How the host connects to a web app of this box other than by its socket in the data dir (null: by that socket). */
  appConnector(_appId: string): (() => Duplex) | null {
    return null;
  }

  abstract kill(): void;

  /** Asks the agent to stop and waits for the box to exit, killing it after a second. */
  protected async shutdown(): Promise<void> {
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

  protected appendStderr(chunk: string): void {
    this.stderrTail = (this.stderrTail + chunk).slice(-8192);
  }

  /** The box is gone (`how` says how it ended): every waiting call fails, then the exit listeners hear of it. */
  protected exitWith(how: string, code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.channel.close(
      new SandboxError('internal', `the sandbox exited (${how})`, { stderr: this.stderrTail.slice(-2000) }),
    );
    for (const l of this.exitListeners) l(code, signal);
  }
}
