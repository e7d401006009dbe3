// Turns the kernel's events and the final message for one execute into the typed result the tools return.
// Pure: no I/O, so every status mapping is unit-tested.
import type { z } from 'zod';
import type { ArtifactChanges } from '../artifacts/types.js';
import { MAKE_ROOM, type ErrorBody } from '../errors.js';
import { firstEntries } from '../list-window.js';
import type {
  AgentErrorBody,
  AgentEvent,
  AgentFinal,
  MimeBundle,
  StreamCapture,
} from '../sandbox/protocol.js';
import type { LimitMechanism } from '../sandbox/limit-stand-ins.js';
import type { BoundedChangesSchema, ExecuteResultSchema } from './execute-result-schema.js';

/** An execute's result: the fields its schema publishes (execute-result-schema.ts), and what only the server reads. */
export type ExecuteResult = z.infer<typeof ExecuteResultSchema> & {
  /** The workspace file each bundle's image was saved as, when it was (the kernel's metadata.filename). */
  image_files?: { displays: Array<string | null>; result: string | null };
};

export type ExecuteStatus = ExecuteResult['status'];

export interface ResultContext {
  sessionId: string;
  /** The kernel's count for this call (it starts over with Python state), whatever number the box was given. */
  executionCount: number;
  /** Python state was lost before or during this call for a reason the final message does not tell (idle kernel
   * death, a new box, a server restart): the flags then say so too. */
  stateLost?: boolean;
  timeoutS: number;
  memoryMb: number;
  oomKilled: boolean;
  /** What holds the memory limit: under 'rlimit' (RLIMIT_DATA) a MemoryError in the kernel is the limit reached. */
  memoryBy?: LimitMechanism;
  isolation: 'bwrap' | 'docker' | 'none';
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
  const imageNotices: string[] = [];
  const image_files: NonNullable<ExecuteResult['image_files']> = { displays: [], result: null };
  for (const ev of events) {
    if (ev.type === 'execute_result') {
      result = checkedImages(ev.data, imageNotices);
      image_files.result = savedAs(ev.metadata);
    } else if (ev.type === 'display_data') {
      displays.push(checkedImages(ev.data, imageNotices));
      image_files.displays.push(savedAs(ev.metadata));
    }
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
  } else if (final.status === 'error' && ctx.memoryBy === 'rlimit' && final.error?.ename === 'MemoryError') {
    status = 'memory_limit';
    error = {
      code: 'memory_limit',
      message:
        `the code asked for more than the ${ctx.memoryMb} MiB a process may map in this session and Python raised ` +
        `MemoryError (RLIMIT_DATA per process: this machine gives the server no memory cgroup); ${stateNote}`,
      details: {
        ...error?.details,
        memory_limit_mb: ctx.memoryMb,
        enforced_by: 'RLIMIT_DATA',
        per: 'process',
        state_preserved: final.state_preserved ?? true,
      },
      hint: 'free large objects (del, gc.collect()), process the data in chunks, or create a session with a larger memory_mb',
    };
  } else if (final.status === 'killed') {
    const exitCode = typeof final['exit_code'] === 'number' ? final['exit_code'] : null;
    const how =
      final.signal == null && exitCode !== null
        ? `exited with code ${exitCode} (os._exit, or a library that ended the process)`
        : `was killed by signal ${final.signal ?? 'unknown'}`;
    error = {
      code: 'runtime_error',
      message: `the Python process ${how}; ${stateNote}`,
      details: { signal: final.signal ?? null, exit_code: exitCode, state_preserved: false },
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
  const notices = [...ctx.notices, ...imageNotices];
  for (const s of [stdout, stderr]) if (s.save_note) notices.push(s.save_note);
  return {
    session_id: ctx.sessionId,
    status,
    execution_count: ctx.executionCount,
    duration_ms: round(final.duration_ms ?? 0),
    stdout: stdout.text,
    stderr: stderr.text,
    stdout_truncated: stdout.truncated,
    stderr_truncated: stderr.truncated,
    full_output,
    result,
    displays,
    error,
    state_preserved: ctx.stateLost ? false : (final.state_preserved ?? true),
    kernel_restarted: ctx.stateLost ? true : (final.kernel_restarted ?? false),
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
    image_files,
  };
}

function savedAs(metadata: Record<string, unknown> | undefined): string | null {
  const name = metadata?.['filename'];
  return typeof name === 'string' ? name : null;
}

/** The most paths a result lists under created, changed and deleted together; counts stay whole beyond it. */
export const MAX_LISTED_CHANGES = 100;

/** A call's changes within bounds: the type of the schema the execute and shell tools publish. */
export type BoundedChanges = z.infer<typeof BoundedChangesSchema>;

/**
 * A call's file changes with at most `max` paths listed (created first, then changed, then deleted), so a call
 * that writes 150,000 files still gets a small result. `since` is when the call arrived: every file it created
 * or changed is newer, so list_artifacts with newer_than lists them all, page by page.
 */
export function boundChanges(
  changes: ArtifactChanges | null,
  since: string,
  max = MAX_LISTED_CHANGES,
): BoundedChanges | null {
  if (!changes) return null;
  const { created, changed, deleted } = changes;
  const { lists, counts, omitted, more } = firstEntries({ created, changed, deleted }, max, (cut) => {
    const gone = cut.counts.deleted - cut.lists.deleted.length;
    return (
      `list_artifacts with newer_than "${since}" lists every file this call created or changed, page by page ` +
      '(pass next_cursor back as cursor)' +
      (gone ? `; ${gone} deleted path(s) are not listed` : '')
    );
  });
  return { ...lists, counts, omitted, more };
}

/** What each image type's bytes start with: a display claiming the type must hold such bytes to go out as one. */
const IMAGE_MAGIC: Record<string, Array<number[]>> = {
  'image/png': [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  'image/jpeg': [[0xff, 0xd8, 0xff]],
  'image/gif': [
    [0x47, 0x49, 0x46, 0x38, 0x37, 0x61],
    [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
  ],
};
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A bundle without the images whose data is not what their type says (a `_repr_png_` returning junk, anything
 * but base64, bytes of another format): clients would be sent them as images. Each one left out gets a notice.
 */
export function checkedImages(bundle: MimeBundle, notices: string[]): MimeBundle {
  let out = bundle;
  for (const [mime, magics] of Object.entries(IMAGE_MAGIC)) {
    if (!(mime in bundle)) continue;
    const why = imageProblem(bundle[mime], mime, magics);
    if (!why) continue;
    if (out === bundle) out = { ...bundle };
    delete out[mime];
    notices.push(`a display's ${mime} was not sent as an image: ${why}`);
  }
  return out;
}

function imageProblem(data: unknown, mime: string, magics: number[][]): string | null {
  if (typeof data !== 'string')
    return `its data is a ${data === null ? 'null' : typeof data}, not base64 text`;
  const compact = data.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) return 'its data is not valid base64';
  const head = Buffer.from(compact.slice(0, 16), 'base64');
  const ok = magics.some((m) => m.every((b, i) => head[i] === b));
  return ok ? null : `its bytes do not start with the ${mime.slice(6).toUpperCase()} signature`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
