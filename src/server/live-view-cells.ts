// The cells of the status page's live view: one per execute or shell_execute call, built from a history row, a
// running call or a call's result. Pure data in, data out; only what a page can show safely is kept.
import type { ExecutionRow } from '../store/executions-repo.js';

export type MimeBundle = Record<string, unknown>;

export interface CellError {
  code: string;
  message: string;
  hint?: string;
  traceback?: string[];
}

export interface Cell {
  /** py-<history number> for a history row; c-<call id> for a call seen live, the same from its start to its end. */
  key: string;
  kind: 'python' | 'shell';
  code: string;
  /** running, or how the call ended (ok, error, timeout, interrupted, memory_limit, killed). */
  status: string;
  started_at: string;
  duration_ms: number | null;
  /** Running calls: how long the call had run when this was sent. */
  elapsed_ms?: number;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  /** The final expression's value. */
  result: MimeBundle | null;
  displays: MimeBundle[];
  error: CellError | null;
  notices: string[];
  /** Shell commands: their exit code. */
  exit_code?: number | null;
}

/** What a running cell keeps of its output so far; the end brings the capped output in full. */
export const RUNNING_OUTPUT_CHARS = 64 * 1024;
/** text/plain and text/html values longer than this are cut, with a note. */
const TEXT_CHARS = 256 * 1024;
/** MIME types the page shows; images are shown with <img> (an SVG there runs no script), HTML in a sandboxed frame. */
const SHOWN = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/svg+xml',
  'text/html',
  'text/markdown',
  'text/plain',
];

/** A call seen by this process, running or ended. */
export function liveKey(callId: number): string {
  return `c-${callId}`;
}

interface StoredOutputs {
  stdout?: unknown;
  stderr?: unknown;
  items?: Array<{ type?: string; data?: MimeBundle; error?: Record<string, unknown> }>;
  error?: Record<string, unknown> | null;
  notices?: unknown;
}

/** A finished Python call from its history row. */
export function cellFromRow(row: ExecutionRow): Cell {
  let out: StoredOutputs = {};
  try {
    out = JSON.parse(row.outputs) as StoredOutputs;
  } catch {
    // A row of an older version: the code alone.
  }
  const items = Array.isArray(out.items) ? out.items : [];
  let result: MimeBundle | null = null;
  const displays: MimeBundle[] = [];
  let itemError: Record<string, unknown> | null = null;
  for (const it of items) {
    if (it?.type === 'execute_result') result = shown(it.data);
    else if (it?.type === 'display_data') displays.push(shown(it.data));
    else if (it?.type === 'error' && it.error) itemError = it.error;
  }
  return {
    key: `py-${row.execution_count}`,
    kind: 'python',
    code: row.code,
    status: row.status,
    started_at: row.started_at,
    duration_ms: row.duration_ms,
    stdout: str(out.stdout),
    stderr: str(out.stderr),
    stdout_truncated: false,
    stderr_truncated: false,
    result,
    displays,
    error: cellError(out.error ?? null, itemError),
    notices: Array.isArray(out.notices) ? out.notices.map(String) : [],
  };
}

/** A call that has started and not ended. */
export function runningCell(key: string, kind: Cell['kind'], code: string, startedAt: number): Cell {
  return {
    key,
    kind,
    code,
    status: 'running',
    started_at: new Date(startedAt).toISOString(),
    duration_ms: null,
    stdout: '',
    stderr: '',
    stdout_truncated: false,
    stderr_truncated: false,
    result: null,
    displays: [],
    error: null,
    notices: [],
  };
}

/** What an execute or shell_execute result says, over the running cell it ends. */
export function endedCell(running: Cell, result: unknown, error: CellError | null, durationMs: number): Cell {
  const r = (result ?? {}) as Record<string, unknown>;
  const done: Cell = { ...running, status: 'error', duration_ms: durationMs, error };
  delete done.elapsed_ms;
  if (result === null || typeof result !== 'object') return done;
  const displays = Array.isArray(r['displays']) ? (r['displays'] as MimeBundle[]) : [];
  return {
    ...done,
    status: str(r['status']) || 'ok',
    duration_ms: typeof r['duration_ms'] === 'number' ? r['duration_ms'] : durationMs,
    stdout: str(r['stdout']),
    stderr: str(r['stderr']),
    stdout_truncated: r['stdout_truncated'] === true,
    stderr_truncated: r['stderr_truncated'] === true,
    result: r['result'] && typeof r['result'] === 'object' ? shown(r['result'] as MimeBundle) : null,
    displays: displays.map(shown),
    error: cellError((r['error'] as Record<string, unknown> | null) ?? null, null),
    notices: Array.isArray(r['notices']) ? r['notices'].map(String) : [],
    ...(running.kind === 'shell' && {
      exit_code: typeof r['exit_code'] === 'number' ? r['exit_code'] : null,
    }),
  };
}

/** Appends output to a running cell, keeping its last RUNNING_OUTPUT_CHARS characters. */
export function appendOutput(cell: Cell, text: string): void {
  const all = cell.stdout + text;
  cell.stdout = all.length > RUNNING_OUTPUT_CHARS ? all.slice(-RUNNING_OUTPUT_CHARS) : all;
  cell.stdout_truncated ||= all.length > RUNNING_OUTPUT_CHARS;
}

/** The error with its code and traceback: from the result's error body, else from the kernel's error event. */
function cellError(
  body: Record<string, unknown> | null,
  event: Record<string, unknown> | null,
): CellError | null {
  const src = body ?? event;
  if (!src) return null;
  const details = (body?.['details'] ?? {}) as Record<string, unknown>;
  const tb = details['traceback'] ?? event?.['traceback'] ?? src['traceback'];
  const e: CellError = { code: str(src['code']) || 'runtime_error', message: str(src['message']) };
  if (!e.message && event) e.message = `${str(event['ename'])}: ${str(event['evalue'])}`;
  if (typeof src['hint'] === 'string') e.hint = src['hint'];
  if (Array.isArray(tb)) e.traceback = tb.map((l) => stripAnsi(String(l)));
  return e;
}

/** The parts of a MIME bundle the page shows, text cut to a size a browser handles well. */
function shown(data: MimeBundle | undefined): MimeBundle {
  const out: MimeBundle = {};
  for (const mime of SHOWN) {
    const v = data?.[mime];
    if (v === undefined || v === null) continue;
    const text = Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : JSON.stringify(v);
    if (mime.startsWith('image/') && mime !== 'image/svg+xml') out[mime] = text.replace(/\s+/g, '');
    else
      out[mime] =
        text.length > TEXT_CHARS ? `${text.slice(0, TEXT_CHARS)}\n…[${text.length} characters, cut]` : text;
  }
  return out;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}
