// Turns the kernel's events and the final message for one execute into the typed result the tools return.
// Pure: no I/O, so every status mapping is unit-tested.
import type { ArtifactChanges } from '../artifacts/types.js';
import { MAKE_ROOM, type ErrorBody } from '../errors.js';
import type {
  AgentErrorBody,
  AgentEvent,
  AgentFinal,
  MimeBundle,
  StreamCapture,
} from '../sandbox/protocol.js';

export type ExecuteStatus = 'ok' | 'error' | 'timeout' | 'interrupted' | 'memory_limit' | 'killed';

export interface ExecuteResult {
  session_id: string;
  status: ExecuteStatus;
  execution_count: number;
  duration_ms: number;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  /** Workspace-relative files holding the whole output when it was truncated. */
  full_output: { stdout?: string; stderr?: string };
  /** The final expression's value as a notebook shows it (text/plain, text/html...). */
  result: MimeBundle | null;
  displays: MimeBundle[];
  error: ErrorBody | null;
  state_preserved: boolean;
  kernel_restarted: boolean;
  notices: string[];
  usage: {
    cpu_user_ms: number | null;
    cpu_system_ms: number | null;
    max_rss_kb: number | null;
    memory_peak_bytes: number | null;
    pids: number | null;
  };
  isolation: 'bwrap' | 'none';
  /** Files the call created, changed and deleted in the workspace (null when tracking is off). */
  artifacts: ArtifactChanges | null;
}

export interface ResultContext {
  sessionId: string;
  executionCount: number;
  timeoutS: number;
  memoryMb: number;
  oomKilled: boolean;
  isolation: 'bwrap' | 'none';
  notices: string[];
  memoryPeakBytes: number | null;
  pids: number | null;
  artifacts?: ArtifactChanges | null;
}

const emptyStream: StreamCapture = { text: '', truncated: false, bytes: 0, saved_path: null };

export function agentErrorToBody(e: AgentErrorBody): ErrorBody {
  const { code, message, hint, ...rest } = e;
  const details: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && v !== null) details[k] = v;
  const body: ErrorBody = { code, message: message || `${e.ename}: ${e.evalue}`, details };
  if (hint) body.hint = hint;
  else if (code === 'runtime_error' && /\[Errno (28|122)\]/.test(e.evalue)) body.hint = DISK_FULL_HINT;
  return body;
}

/** For a cell that hit ENOSPC or EDQUOT: the workspace's disk is full, and how to make room. */
const DISK_FULL_HINT = `the sandbox's disk is full: ${MAKE_ROOM}, then run the code again`;

export function buildExecuteResult(
  final: AgentFinal,
  events: AgentEvent[],
  ctx: ResultContext,
): ExecuteResult {
  const stdout = final.stdout ?? emptyStream;
  const stderr = final.stderr ?? emptyStream;
  let result: MimeBundle | null = null;
  const displays: MimeBundle[] = [];
  for (const ev of events) {
    if (ev.type === 'execute_result') result = ev.data;
    else if (ev.type === 'display_data') displays.push(ev.data);
  }
  let status: ExecuteStatus = final.status;
  let error: ErrorBody | null = final.error ? agentErrorToBody(final.error) : null;
  const stateNote = final.state_preserved
    ? 'the session state survived'
    : 'the Python process was restarted and its state was lost; workspace files are kept';
  if (final.status === 'timeout') {
    error = {
      code: 'timeout',
      message: `execution exceeded the ${ctx.timeoutS} s limit and was interrupted; ${stateNote}`,
      details: { timeout_s: ctx.timeoutS, state_preserved: final.state_preserved ?? false },
      hint: 'pass a larger timeout (seconds), or split the work into smaller calls',
    };
  } else if (final.status === 'killed' && ctx.oomKilled) {
    status = 'memory_limit';
    error = {
      code: 'memory_limit',
      message: `the code used more than the session's ${ctx.memoryMb} MiB memory limit and was killed; ${stateNote}`,
      details: { memory_limit_mb: ctx.memoryMb, state_preserved: false },
      hint: 'process the data in chunks, or create a session with a larger memory_mb',
    };
  } else if (final.status === 'killed') {
    error = {
      code: 'runtime_error',
      message: `the Python process was killed by signal ${final.signal ?? 'unknown'}; ${stateNote}`,
      details: { signal: final.signal ?? null, state_preserved: false },
    };
  } else if (final.status === 'interrupted') {
    error = {
      code: 'runtime_error',
      message: `execution was cancelled; ${stateNote}`,
      details: { cancelled: true, state_preserved: final.state_preserved ?? false },
    };
  }
  const full_output: ExecuteResult['full_output'] = {};
  if (stdout.saved_path) full_output.stdout = stdout.saved_path;
  if (stderr.saved_path) full_output.stderr = stderr.saved_path;
  const notices = [...ctx.notices];
  for (const s of [stdout, stderr]) if (s.save_note) notices.push(s.save_note);
  return {
    session_id: ctx.sessionId,
    status,
    execution_count: final.execution_count ?? ctx.executionCount,
    duration_ms: round(final.duration_ms ?? 0),
    stdout: stdout.text,
    stderr: stderr.text,
    stdout_truncated: stdout.truncated,
    stderr_truncated: stderr.truncated,
    full_output,
    result,
    displays,
    error,
    state_preserved: final.state_preserved ?? true,
    kernel_restarted: final.kernel_restarted ?? false,
    notices,
    usage: {
      cpu_user_ms: final.usage ? round(final.usage.cpu_user_ms) : null,
      cpu_system_ms: final.usage ? round(final.usage.cpu_system_ms) : null,
      max_rss_kb: final.usage?.max_rss_kb ?? null,
      memory_peak_bytes: ctx.memoryPeakBytes,
      pids: ctx.pids,
    },
    isolation: ctx.isolation,
    artifacts: ctx.artifacts ?? null,
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
