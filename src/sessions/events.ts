// Call events: each execute and shell_execute call as it starts, sends output and ends, for watchers (the live view
// of the status page). With no listener a call pays nothing but one check; listeners must only queue work.
import { EventEmitter } from 'node:events';
import { toErrorBody } from '../errors.js';

export type CallKind = 'python' | 'shell';

export interface CallStart {
  /** Unique in this process, in start order. */
  id: number;
  sessionId: string;
  owner: string;
  kind: CallKind;
  code: string;
  startedAt: number;
}

export interface CallOutput {
  id: number;
  sessionId: string;
  owner: string;
  text: string;
  elapsedMs: number;
}

export interface CallEnd {
  id: number;
  sessionId: string;
  owner: string;
  kind: CallKind;
  /** The call's result (an ExecuteResult or a ShellResult), or null when it failed with `error`. */
  result: unknown;
  error: { code: string; message: string; hint?: string | undefined } | null;
  durationMs: number;
}

export interface CallEventMap {
  start: [CallStart];
  output: [CallOutput];
  end: [CallEnd];
}

type ProgressFn = (text: string, elapsedMs: number) => void;

/** One call being watched: start() once it leaves the queue, settle() on its promise. */
export interface LiveCall {
  /** Fires the start; returns the options with the call's output relayed to the listeners too. */
  start<O extends { onProgress?: ProgressFn | undefined }>(opts: O): O;
  /** Ends the call with the promise's value or error; returns the promise unchanged. */
  settle<T>(run: Promise<T>): Promise<T>;
}

const UNWATCHED: LiveCall = { start: (opts) => opts, settle: (run) => run };

export class CallEvents extends EventEmitter<CallEventMap> {
  private nextId = 1;

  /** A call about to be queued in the session `session` of `owner`. */
  call(session: { id: string; owner: string }, kind: CallKind, code: string): LiveCall {
    if (this.listenerCount('start') === 0) return UNWATCHED;
    const id = this.nextId++;
    const base = { id, sessionId: session.id, owner: session.owner };
    let startedAt = 0;
    return {
      start: (opts) => {
        startedAt = Date.now();
        this.emit('start', { ...base, kind, code, startedAt });
        const own = opts.onProgress;
        const onProgress: ProgressFn = (text, elapsedMs) => {
          own?.(text, elapsedMs);
          this.emit('output', { ...base, text, elapsedMs });
        };
        return { ...opts, onProgress };
      },
      settle: (run) => {
        const end = (result: unknown, error: CallEnd['error']) => {
          // A call that never left the queue (an unknown session, a closed one) never started: nothing to end.
          if (startedAt !== 0)
            this.emit('end', { ...base, kind, result, error, durationMs: Date.now() - startedAt });
        };
        run.then(
          (value) => end(value, null),
          (err: unknown) => end(null, errorOf(err)),
        );
        return run;
      },
    };
  }
}

/** As the client gets it (toErrorBody): an internal error shows no host path in the live view either. */
function errorOf(err: unknown): CallEnd['error'] {
  const { code, message, hint } = toErrorBody(err);
  return { code, message, hint };
}
