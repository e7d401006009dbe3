// The shell service: checks a command against the policy, then runs it with /bin/sh in the session's own box (same
// files, network and limits as its Python), queued with the session's other calls. It never runs a command the policy
// denied, and never outside the box.
import { z } from 'zod';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config.js';
import { SandboxError, invalidArgument, type ErrorBody } from '../errors.js';
import { CommandParseError, type PolicyVerdict, type ShellPolicy } from '../policy/shell-policy.js';
import type { ShellRule } from '../policy/shell-rules.js';
import { requireWithin } from '../sessions/caps.js';
import { relayRequest } from '../sessions/run-in-box.js';
import type { SessionService } from '../sessions/service.js';
import type { ShellResultSchema } from './result-schema.js';
import { resolveWorkDir, type WorkDir } from './workdir.js';

export interface ShellOptions {
  working_directory?: string | undefined;
  timeout_s?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Output as it arrives, once the command has run longer than a second. */
  onProgress?: ((text: string) => void) | undefined;
}

export type ShellResult = z.infer<typeof ShellResultSchema>;

const Stream = z.object({
  text: z.string(),
  truncated: z.boolean(),
  bytes: z.number(),
  saved_path: z.string().nullable(),
  save_note: z.string().nullable().optional(),
});

const ShellFinal = z.object({
  status: z.enum(['ok', 'timeout', 'interrupted', 'error']),
  exit_code: z.number().nullable().optional(),
  signal: z.number().nullable().optional(),
  duration_ms: z.number().optional(),
  stdout: Stream.optional(),
  stderr: Stream.optional(),
  error: z.object({ code: z.string(), message: z.string() }).nullable().optional(),
});

const empty: z.infer<typeof Stream> = { text: '', truncated: false, bytes: 0, saved_path: null };

export class ShellService {
  constructor(
    private readonly sessions: SessionService,
    /** The rules in force and where they came from (listing them needs no parser). */
    private readonly rules: { source: string; rules: readonly ShellRule[] },
    /** Loads the policy (and its parser) on first use; later calls get the same promise. */
    private readonly loadPolicy: () => Promise<ShellPolicy>,
    private readonly audit: AuditLog,
    private readonly config: Config,
  ) {}

  /** The rules in force and where they came from. */
  policyInfo(): { source: string; rules: readonly ShellRule[] } {
    return this.rules;
  }

  /** The policy's verdict on a command; throws invalid_argument when it does not parse. */
  async check(command: string): Promise<PolicyVerdict> {
    const policy = await this.loadPolicy();
    try {
      return policy.check(command);
    } catch (err) {
      if (err instanceof CommandParseError) {
        throw new SandboxError(
          'invalid_argument',
          `the command could not be parsed: ${err.message}`,
          { line: err.line, column: err.column },
          'fix the quoting or the unclosed construct; the command is parsed as POSIX/bash shell',
        );
      }
      throw err;
    }
  }

  async run(
    owner: string,
    sessionId: string | undefined,
    command: string,
    opts: ShellOptions = {},
  ): Promise<ShellResult> {
    if (opts.timeout_s !== undefined && !(opts.timeout_s > 0 && opts.timeout_s <= 86_400)) {
      throw invalidArgument('timeout must be between 0 and 86400 seconds');
    }
    requireWithin('timeout', opts.timeout_s, this.config.timeoutS, '--timeout', 's');
    // the queue place is taken before the policy check's await, so a call sent after this one runs after it
    const slot = this.sessions.reserve(owner, sessionId);
    const ws = { sessionId: slot.sessionId, path: slot.workspace };
    let verdict: Awaited<ReturnType<ShellService['check']>>;
    try {
      verdict = await this.check(command);
    } catch (err) {
      slot.release();
      throw err;
    }
    if (!verdict.allowed) {
      slot.release();
      this.audit.record({
        sessionId: ws.sessionId,
        owner,
        kind: 'policy_denied',
        subject: command,
        status: 'denied',
        detail: { rule: verdict.rule.id, tool: 'shell_execute' },
      });
      const where = verdict.via.length ? ` (inside ${verdict.via.join(' → ')})` : '';
      throw new SandboxError(
        'policy_denied',
        `'${verdict.command}'${where} is refused by policy rule '${verdict.rule.id}': ${verdict.rule.description}`,
        { rule: verdict.rule, command: verdict.command, via: verdict.via },
        verdict.rule.hint,
      );
    }
    let dir: WorkDir;
    try {
      dir = resolveWorkDir(ws.path, opts.working_directory);
    } catch (err) {
      slot.release();
      throw err;
    }
    const live = this.sessions.calls.call({ id: ws.sessionId, owner }, 'shell', command);
    const run = slot.run(async (box, session) => {
      const watched = live.start(opts);
      const timeoutS = opts.timeout_s ?? session.row.timeout_s;
      const timeoutMs = Math.round(timeoutS * 1000);
      const startedAt = new Date();
      const t0 = performance.now();
      const { value: raw, artifacts } = await this.sessions.tracked(
        session,
        () =>
          relayRequest(
            box,
            {
              op: 'shell',
              command,
              cwd: dir.rel,
              timeout_ms: timeoutMs,
              grace_ms: this.config.graceMs,
              output_cap: this.config.outputCap,
            },
            {
              timeoutMs,
              graceMs: this.config.graceMs,
              signal: opts.signal,
              onProgress: watched.onProgress,
            },
          ).done,
      );
      const final = ShellFinal.parse(raw);
      if (final.status === 'error') {
        // bad_request: the folder went away while the call waited in the queue.
        const code = final.error?.code === 'bad_request' ? 'invalid_argument' : 'internal';
        throw new SandboxError(
          code,
          `the sandbox could not run the command: ${final.error?.message ?? 'unknown error'}`,
        );
      }
      const stdout = final.stdout ?? empty;
      const stderr = final.stderr ?? empty;
      const full_output: ShellResult['full_output'] = {};
      if (stdout.saved_path) full_output.stdout = stdout.saved_path;
      if (stderr.saved_path) full_output.stderr = stderr.saved_path;
      const result: ShellResult = {
        session_id: session.sessionId,
        command,
        working_directory: dir.boxPath,
        status: final.status,
        exit_code: final.exit_code ?? null,
        signal: final.signal ?? null,
        duration_ms: final.duration_ms ?? Math.round(performance.now() - t0),
        stdout: stdout.text,
        stderr: stderr.text,
        stdout_truncated: stdout.truncated,
        stderr_truncated: stderr.truncated,
        full_output,
        artifacts,
        error: stopError(final.status, timeoutS),
        isolation: this.config.isolation === 'none' ? 'none' : this.config.boxBackend,
        notices: [
          ...this.sessions.takeNotices(session.sessionId, 'command'),
          ...[stdout, stderr].flatMap((s) => (s.save_note ? [s.save_note] : [])),
        ],
      };
      this.audit.record({
        sessionId: session.sessionId,
        owner,
        kind: 'shell',
        subject: command,
        status: final.status !== 'ok' ? final.status : result.exit_code === 0 ? 'ok' : 'failed',
        durationMs: result.duration_ms,
        detail: { exit_code: result.exit_code, signal: result.signal },
        at: startedAt,
      });
      return result;
    });
    return live.settle(run);
  }
}

function stopError(status: ShellResult['status'], timeoutS: number): ErrorBody | null {
  if (status === 'timeout') {
    return {
      code: 'timeout',
      message: `the command ran longer than ${timeoutS} s; it and every process it started were killed (the Python session is untouched)`,
      hint: 'pass a larger timeout, or run long jobs in the background with output to a file (nohup cmd > log 2>&1 &)',
    };
  }
  return null; // interrupted: the caller cancelled, the status says so
}
