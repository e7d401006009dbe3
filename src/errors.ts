// The one error vocabulary of the server: every service throws SandboxError, the MCP layer turns it into
// an isError tool result with a structured body. Never put MCP types here.
import { z } from 'zod';

export const ERROR_CODES = [
  'syntax_error',
  'truncated_code',
  'import_error',
  'runtime_error',
  'timeout',
  'memory_limit',
  'policy_denied',
  'network_denied',
  'not_found',
  'invalid_argument',
  'isolation_unavailable',
  'docker_unavailable',
  'disk_full',
  'resource_exhausted',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The body of every error result (and of a failed execute's `error`): its schema is the one source of its type. */
export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
  hint: z.string().optional(),
});

export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export class SandboxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, hint?: string) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
    this.details = details;
    this.hint = hint;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details) body.details = this.details;
    if (this.hint) body.hint = this.hint;
    return body;
  }
}

export function notFound(kind: string, name: string, hint?: string): SandboxError {
  return new SandboxError('not_found', `${kind} '${name}' does not exist`, { kind, name }, hint);
}

export function invalidArgument(message: string, details?: Record<string, unknown>): SandboxError {
  return new SandboxError('invalid_argument', message, details);
}

/** How an agent makes room on a full disk, with the tools it has (the hints of disk_full and of a cell's ENOSPC). */
export const MAKE_ROOM =
  'delete files you no longer need (cleanup_artifacts, os.remove, or rm in shell_execute), old backups ' +
  '(cleanup_old_backups) or exports (cleanup_web_app_export)';

/** Error codes, from the OS or SQLite, that mean the disk holding the data dir has no room left. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_FULL_CODES.has(code);
}

/**
 * An absolute path where it starts a word of a message (not inside a relative path, a URL or a fraction): on the
 * host it names the data dir, a descriptor's /proc/self/fd/N path or another host file.
 */
const ABSOLUTE_PATH = /(?<![\w.~:/-])\/[^\s'"`,;()[\]{}<>]*/g;

/** The text of an internal error without host paths: the failing call and its reason stay, the paths go. */
export function withoutHostPaths(text: string, err?: unknown): string {
  let out = text;
  // fs errors carry their paths as fields too: those are removed whole, even with spaces in them.
  for (const key of ['path', 'dest'] as const) {
    const p = (err as Record<string, unknown> | null | undefined)?.[key];
    if (typeof p === 'string' && p.length > 0) out = out.split(p).join('<host path>');
  }
  return out.replace(ABSOLUTE_PATH, '<host path>');
}

function scrubDetails(value: unknown): unknown {
  if (typeof value === 'string') return withoutHostPaths(value);
  if (Array.isArray(value)) return value.map(scrubDetails);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDetails(v)]));
  }
  return value;
}

/**
 * Any thrown value as an error body; unknown errors become `internal` without leaking a stack. An internal error
 * (and a full disk, whose cause is an unknown error) says what failed, never where on the host: its message and
 * details lose their host paths here, the one place every error body is made.
 */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof SandboxError) {
    const body = err.toBody();
    if (body.code !== 'internal') return body;
    body.message = withoutHostPaths(body.message);
    if (body.details) body.details = scrubDetails(body.details) as Record<string, unknown>;
    return body;
  }
  const message = withoutHostPaths(err instanceof Error ? err.message : String(err), err);
  if (isDiskFull(err)) {
    return {
      code: 'disk_full',
      message: `the disk that holds the sessions, backups and database is full (${message})`,
      details: { cause: message },
      hint: `free space, then retry: ${MAKE_ROOM}. What this call was writing was not kept.`,
    };
  }
  return { code: 'internal', message };
}
