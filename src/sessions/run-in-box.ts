// Runs long requests in a box: the progress and cancellation relay shared by execute and shell, and for execute,
// telling an OOM kill from other deaths. Never decides what the result means for the user (execute-result.ts does).
import type { Box } from '../sandbox/box.js';
import type { AgentEvent, AgentFinal, AgentRequest } from '../sandbox/protocol.js';
import { KeptEvents } from './kept-events.js';

export interface RunParams extends RelayOptions {
  code: string;
  outputCap: number;
  executionCount: number;
}

export interface RunOutcome {
  final: AgentFinal;
  /** Displays, results and errors in order (not streams), within what a call keeps (kept-events.ts). */
  events: AgentEvent[];
  /** What the call left out of `events` as it ran, for the result's notices. */
  eventNotices: string[];
  oomKilled: boolean;
  /** The box itself died during the call (its agent was killed): the caller must start a new one. */
  boxDied: boolean;
  boxError?: string;
}

/** How long the first output waits before it is sent as progress, and how often after that. */
const PROGRESS_AFTER_MS = 1000;
const PROGRESS_EVERY_MS = 250;

export interface RelayOptions {
  /** The call's own limit (the kernel lane or the agent enforces it); a backstop kills the box 10 s after it plus the grace. */
  timeoutMs: number;
  graceMs: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((text: string, elapsedMs: number) => void) | undefined;
  /** Every stream event as it arrives, for callers that keep all the output themselves. */
  onStream?: ((ev: Extract<AgentEvent, { type: 'stream' }>) => void) | undefined;
}

/**
 * Sends one long-running request (execute, shell) and relays what comes back while it runs: output as progress
 * after the first second, at most every 250 ms; cancellation as an interrupt. `done` resolves with the final
 * message, or rejects when the box dies; `events` collects the non-stream events (displays, results, errors) in order,
 * as many as a result shows and within a byte budget, whatever the code sends (kept-events.ts).
 */
export function relayRequest(
  box: Box,
  request: AgentRequest,
  o: RelayOptions,
): { id: string; events: KeptEvents; done: Promise<AgentFinal> } {
  const t0 = performance.now();
  const events = new KeptEvents();
  let lastProgress = 0;
  let pendingText = '';
  const onEvent = (ev: AgentEvent) => {
    // Streams are only relayed as progress: the final message carries the capped output.
    if (ev.type !== 'stream') {
      events.add(ev);
      return;
    }
    o.onStream?.(ev);
    if (!o.onProgress) return;
    pendingText += ev.text;
    const elapsed = performance.now() - t0;
    if (elapsed >= PROGRESS_AFTER_MS && elapsed - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = elapsed;
      o.onProgress(pendingText, elapsed);
      pendingText = '';
    }
  };
  const req = box.request(request, onEvent, o.timeoutMs + o.graceMs + 10_000);
  const onAbort = () => box.notify({ op: 'interrupt', target: req.id });
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const done = req.done.finally(() => o.signal?.removeEventListener('abort', onAbort));
  return { id: req.id, events, done };
}

export async function runInBox(box: Box, p: RunParams): Promise<RunOutcome> {
  const t0 = performance.now();
  // The OOM counter is only read around calls that end in a kill, so the hot path reads no cgroup file.
  const oomBefore = box.oomKillsAtLastCheck;
  const req = relayRequest(
    box,
    {
      op: 'execute',
      code: p.code,
      timeout_ms: p.timeoutMs,
      grace_ms: p.graceMs,
      output_cap: p.outputCap,
      execution_count: p.executionCount,
    },
    p,
  );
  try {
    const final = await req.done;
    // An OOM kill is a SIGKILL; the counter alone could also have been raised by a subprocess earlier.
    const oomKilled = final.status === 'killed' && final.signal === 9 && box.oomKills() > oomBefore;
    return {
      final,
      events: req.events.list,
      eventNotices: req.events.notices(),
      oomKilled,
      boxDied: false,
    };
  } catch (err) {
    const oomKilled = box.oomKills() > oomBefore;
    return {
      final: {
        type: 'final',
        id: req.id,
        status: 'killed',
        execution_count: p.executionCount,
        duration_ms: performance.now() - t0,
        state_preserved: false,
        kernel_restarted: true,
        signal: 9,
      },
      events: req.events.list,
      eventNotices: req.events.notices(),
      oomKilled,
      boxDied: true,
      boxError: String(err),
    };
  }
}
