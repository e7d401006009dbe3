// Schemas of every message the box sends (docs/AGENT_PROTOCOL.md): the agent's lines on its stdout and the kernel's on
// the lane. Code in the box is hostile and the kernel runs it, so a line is trusted only once it parses here.
import { z } from 'zod';
import type { AgentErrorBody, AgentEvent, KernelExit, StreamCapture } from './protocol.js';

/** The longest line the server reads from a box (a display's base64 image is the largest legitimate one). */
export const MAX_BOX_LINE_BYTES = 32 * 1024 * 1024;
/**
 * The longest workspace listing a completion carries (the box sends none past 8 MiB once escaped in its line, so that
 * the line stays under MAX_BOX_LINE_BYTES, and the server lists itself).
 */
export const MAX_INLINE_LISTING_CHARS = 8 * 1024 * 1024;

const int = z.number().int();
const count = int.nonnegative();
const ms = z.number().nonnegative();
const id = z.string().min(1).max(200);
const record = z.record(z.string(), z.unknown());

const StreamCaptureSchema = z.object({
  text: z.string(),
  truncated: z.boolean(),
  bytes: count,
  saved_path: z.string().nullable(),
  save_note: z.string().nullable().optional(),
});

/** A cell's structured error, as the kernel builds it. */
const CellErrorSchema = z.looseObject({
  code: z.enum(['syntax_error', 'truncated_code', 'import_error', 'runtime_error']),
  ename: z.string(),
  evalue: z.string(),
  message: z.string(),
  traceback: z.array(z.string()),
  hint: z.string().optional(),
  line: int.nullable().optional(),
  column: int.nullable().optional(),
  excerpt: z.string().nullable().optional(),
  text: z.string().nullable().optional(),
  module: z.string().nullable().optional(),
  sys_path: z.array(z.string()).optional(),
  reason: z.string().optional(),
});

/**
 * A Docker volume box's workspace listing with a cell's `done` (src/agent/workspace_listing.py): its text, or null
 * when the box gave none. Its lines are checked as hostile by the sync (workspace-manifest.ts), which refuses it whole.
 */
const WorkspaceListingSchema = z.string().max(MAX_INLINE_LISTING_CHARS).nullable().optional();

const UsageSchema = z.object({ cpu_user_ms: ms, cpu_system_ms: ms, max_rss_kb: count });

// --- the kernel, on the lane -----------------------------------------------------------------------------------

/** A display's id is the cell it was made in: a thread of an earlier cell, or code between cells, sends another. */
const displayId = id.nullable();

export const LaneMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), pid: count, gen: count, info: record }),
  z.object({ type: z.literal('display_data'), id: displayId, data: record, metadata: record.optional() }),
  z.object({
    type: z.literal('execute_result'),
    id: displayId,
    execution_count: count,
    data: record,
    metadata: record.optional(),
  }),
  z.object({
    type: z.literal('done'),
    id,
    status: z.enum(['ok', 'error', 'interrupted']),
    error: CellErrorSchema.nullable(),
    usage: UsageSchema.nullable().optional(),
    cpu_total_ms: ms.optional(),
    unread_output: count.nullable().optional(),
    workspace_listing: WorkspaceListingSchema,
  }),
  z.object({ type: z.literal('info'), id, info: record }),
  z.object({ type: z.literal('reply'), id, result: record }),
]);

export type LaneMessage = z.infer<typeof LaneMessageSchema>;

// --- the agent, on its stdout ----------------------------------------------------------------------------------

const ReadySchema = z.looseObject({
  type: z.literal('ready'),
  pid: count,
  kernel_pid: count.nullable(),
  kernel_gen: count.nullable().optional(),
  python: z.string(),
});

const KernelExitSchema = z.object({
  type: z.literal('kernel_exit'),
  gen: count,
  pid: count,
  killed: z.boolean(),
  ready: z.boolean(),
  signal: int.nullable(),
  exit_code: int.nullable(),
  cpu_user_ms: ms.nullable(),
  cpu_system_ms: ms.nullable(),
  max_rss_kb: count.nullable(),
});

/** A request's end. Requests add their own fields (info, probe, exit_code…), so unknown keys pass. */
const FinalSchema = z.looseObject({
  type: z.literal('final'),
  id: id.nullable(),
  status: z.enum(['ok', 'error', 'timeout', 'interrupted', 'killed']),
  error: z.looseObject({ code: z.string(), message: z.string() }).nullable().optional(),
  stdout: StreamCaptureSchema.optional(),
  stderr: StreamCaptureSchema.optional(),
  exit_code: int.nullable().optional(),
  signal: int.nullable().optional(),
  duration_ms: ms.optional(),
  info: record.optional(),
});

export const AgentLineSchema = z.discriminatedUnion('type', [
  ReadySchema,
  KernelExitSchema,
  FinalSchema,
  z.object({ type: z.literal('stream'), id, name: z.enum(['stdout', 'stderr']), text: z.string() }),
  z.looseObject({
    type: z.literal('app_started'),
    id,
    app_id: z.string(),
    pid: count,
    port: count.nullable().optional(),
    socket: z.string().nullable().optional(),
  }),
  z.object({ type: z.literal('app_log'), id, app_id: z.string(), text: z.string() }),
]);

export type AgentLine = z.infer<typeof AgentLineSchema>;

/** Why a box's line is refused, in one line: the first problems zod found, with where. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`)
    .join('; ');
}

/** Parses one line of JSON against schema; the reason it is refused otherwise. */
export function parseBoxLine<T>(
  schema: z.ZodType<T>,
  line: string,
): { ok: true; msg: T } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return {
      ok: false,
      reason: `a line that is not JSON (${line.length} bytes, starting ${JSON.stringify(line.slice(0, 40))})`,
    };
  }
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, msg: r.data };
  const type = (value as { type?: unknown } | null)?.type;
  return {
    ok: false,
    reason: `a malformed ${typeof type === 'string' ? `'${type.slice(0, 40)}' ` : ''}message (${describeIssues(r.error)})`,
  };
}

// The schemas stay in step with the types the rest of the server uses: these fail to compile when they drift.
type Assignable<A extends B, B> = [A, B];
type Msg<T extends string> = Extract<AgentLine, { type: T }>;
export type SchemaTypeChecks = [
  Assignable<Msg<'kernel_exit'>, KernelExit>,
  Assignable<Msg<'stream'>, AgentEvent>,
  Assignable<z.infer<typeof StreamCaptureSchema>, StreamCapture>,
  Assignable<z.infer<typeof CellErrorSchema>, AgentErrorBody>,
  Assignable<Extract<LaneMessage, { type: 'display_data' | 'execute_result' }>, Omit<AgentEvent, 'id'>>,
];
