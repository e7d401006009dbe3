// The agent's web-app ops (app_start, app_stop, app_probe; see src/agent/apps.py) as typed calls on a Box.
// The one place that sends requests outside the foundation's AgentRequest union; it never interprets results.
import type { Box } from '../sandbox/box.js';
import type { AgentFinal, AgentRequest } from '../sandbox/protocol.js';
import { SandboxError } from '../errors.js';

export interface AppStartRequest {
  op: 'app_start';
  app_id: string;
  /** Tokens {python}, {port}, {agent_dir} and {workspace} are filled in by the agent. */
  argv: string[];
  /** Relative to the box's workspace. */
  cwd: string;
  env: Record<string, string>;
}

export interface AppStarted {
  type: 'app_started';
  app_id: string;
  pid: number;
  port: number;
  socket: string;
}

/** What the session's Python says about an app's imports (src/agent/app_probe.py). */
export interface ProbeResult {
  python_version: string;
  imports: string[];
  stdlib: string[];
  local: string[];
  /** Workspace-relative paths of the local modules (files or package folders). */
  local_files: string[];
  dists: Record<string, string[]>;
  versions: Record<string, string>;
  app_object: string | null;
  unguarded_run: boolean;
}

export interface AppExit {
  exitCode: number | null;
  signal: number | null;
  stopped: boolean;
  error: string | null;
}

type AppOp = AppStartRequest | { op: 'app_stop'; app_id: string } | AppProbeRequest;

interface AppProbeRequest {
  op: 'app_probe';
  code: string;
  search_dirs: string[];
  extra_dists: string[];
}

// The foundation's AgentRequest union names only its own ops; the agent dispatches these to apps.py.
function send(box: Box, req: AppOp, onEvent?: (ev: { type: string } & Record<string, unknown>) => void) {
  return box.request(req as unknown as AgentRequest, (ev) =>
    onEvent?.(ev as unknown as { type: string } & Record<string, unknown>),
  );
}

function agentError(final: AgentFinal): string {
  const err = final.error as { message?: unknown } | null | undefined;
  return typeof err?.message === 'string' ? err.message : `the agent answered ${final.status}`;
}

export interface RunningApp {
  started: Promise<AppStarted>;
  /** Settles when the app process ends (or the box goes away: then it rejects). */
  exited: Promise<AppExit>;
}

/** Starts an app; its output arrives through onLog until it exits. */
export function startApp(box: Box, req: AppStartRequest, onLog: (text: string) => void): RunningApp {
  let resolveStarted!: (s: AppStarted) => void;
  let rejectStarted!: (e: Error) => void;
  const started = new Promise<AppStarted>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  const { done } = send(box, req, (ev) => {
    if (ev.type === 'app_started') resolveStarted(ev as unknown as AppStarted);
    else if (ev.type === 'app_log' && typeof ev.text === 'string') onLog(ev.text);
  });
  const exited = done.then(
    (final): AppExit => {
      const err = final.status === 'error' && final.exit_code === undefined ? agentError(final) : null;
      if (err) rejectStarted(new SandboxError('runtime_error', err));
      else rejectStarted(new SandboxError('runtime_error', 'the app ended before it started'));
      return {
        exitCode: typeof final.exit_code === 'number' ? final.exit_code : null,
        signal: typeof final.signal === 'number' ? final.signal : null,
        stopped: final.stopped === true,
        error: err,
      };
    },
    (e: unknown) => {
      rejectStarted(e instanceof Error ? e : new Error(String(e)));
      throw e;
    },
  );
  // Both are awaited by the caller at different times; a rejection must not count as unhandled meanwhile.
  started.catch(() => undefined);
  exited.catch(() => undefined);
  return { started, exited };
}

export async function stopApp(box: Box, appId: string): Promise<void> {
  if (!box.alive) return;
  const final = await send(box, { op: 'app_stop', app_id: appId }).done.catch(() => null);
  if (final && final.status !== 'ok' && (final.error as { code?: string } | null)?.code !== 'not_found') {
    throw new SandboxError('internal', agentError(final));
  }
}

/** Asks the box's Python about the imports of code; search_dirs are where local modules live (box paths). */
export async function probeApp(
  box: Box,
  code: string,
  searchDirs: string[],
  extraDists: string[],
  timeoutMs = 60_000,
): Promise<ProbeResult> {
  const { done } = send(box, { op: 'app_probe', code, search_dirs: searchDirs, extra_dists: extraDists });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_res, rej) => {
    timer = setTimeout(
      () => rej(new SandboxError('timeout', `the import probe did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const final = await Promise.race([done, timeout]);
    if (final.status !== 'ok') throw new SandboxError('internal', agentError(final));
    const probe = final.probe as (ProbeResult & { error?: { message: string; line?: number } }) | undefined;
    if (!probe) throw new SandboxError('internal', 'the import probe gave no answer');
    if (probe.error) {
      throw new SandboxError('syntax_error', `the app's code does not parse: ${probe.error.message}`, {
        line: probe.error.line ?? null,
      });
    }
    return probe;
  } finally {
    clearTimeout(timer);
  }
}
