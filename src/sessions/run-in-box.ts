// Runs one execute request in a box: progress relay, cancellation, and telling an OOM kill from other deaths.
// Never decides what the result means for the user (execute-result.ts does).
import type { Box } from '../sandbox/box.js';
import type { AgentEvent, AgentFinal } from '../sandbox/protocol.js';

export interface RunParams {
  code: string;
  timeoutMs: number;
  graceMs: number;
  outputCap: number;
  executionCount: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((text: string, elapsedMs: number) => void) | undefined;
}

export interface RunOutcome {
  final: AgentFinal;
  /** Displays, results and errors in order (not streams). */
  events: AgentEvent[];
  oomKilled: boolean;
  /** The box itself died during the call (its agent was killed): the caller must start a new one. */
  boxDied: boolean;
  boxError?: string;
}

/** How long the first output waits before it is sent as progress, and how often after that. */
const PROGRESS_AFTER_MS = 1000;
const PROGRESS_EVERY_MS = 250;

export async function runInBox(box: Box, p: RunParams): Promise<RunOutcome> {
  const t0 = performance.now();
  const events: AgentEvent[] = [];
  let lastProgress = 0;
  let pendingText = '';
  const onEvent = (ev: AgentEvent) => {
    // Streams are only relayed as progress: the final message carries the capped output.
    if (ev.type !== 'stream') {
      events.push(ev);
      return;
    }
    if (!p.onProgress) return;
    pendingText += ev.text;
    const elapsed = performance.now() - t0;
    if (elapsed >= PROGRESS_AFTER_MS && elapsed - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = elapsed;
      p.onProgress(pendingText, elapsed);
      pendingText = '';
    }
  };
  // The OOM counter is only read around calls that end in a kill, so the hot path reads no cgroup file.
  const oomBefore = box.oomKillsAtLastCheck;
  const req = box.request(
    {
      op: 'execute',
      code: p.code,
      timeout_ms: p.timeoutMs,
      grace_ms: p.graceMs,
      output_cap: p.outputCap,
      execution_count: p.executionCount,
    },
    onEvent,
    p.timeoutMs + p.graceMs + 10_000,
  );
  const onAbort = () => box.notify({ op: 'interrupt', target: req.id });
  p.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const final = await req.done;
    // An OOM kill is a SIGKILL; the counter alone could also have been raised by a subprocess earlier.
    const oomKilled = final.status === 'killed' && final.signal === 9 && box.oomKills() > oomBefore;
    return { final, events, oomKilled, boxDied: false };
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
      events,
      oomKilled,
      boxDied: true,
      boxError: String(err),
    };
  } finally {
    p.signal?.removeEventListener('abort', onAbort);
  }
}
