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

/** Any thrown value as an error body; unknown errors become `internal` without leaking a stack. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof SandboxError) return err.toBody();
  const message = err instanceof Error ? err.message : String(err);
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
