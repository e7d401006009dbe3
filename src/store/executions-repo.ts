// Execution history rows: each call's code, status and outputs, kept for the notebook export and the audit. Large
// code is kept as its head and sha256, large outputs without their stream events (retention.ts trims the rows).
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface ExecutionRow {
  session_id: string;
  execution_count: number;
  kind: string;
  code: string;
  status: string;
  started_at: string;
  duration_ms: number;
  outputs: string;
}

export class ExecutionsRepo {
  private readonly insertStmt: Statement;
  private readonly listStmt: Statement;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT OR REPLACE INTO executions (session_id, execution_count, kind, code, status, started_at, duration_ms, outputs)
       VALUES (@session_id, @execution_count, @kind, @code, @status, @started_at, @duration_ms, @outputs)`,
    );
    this.listStmt = db.prepare(
      // The newest `limit` calls, oldest first.
      `SELECT * FROM (SELECT * FROM executions WHERE session_id = ? ORDER BY execution_count DESC LIMIT ?)
       ORDER BY execution_count`,
    );
  }

  insert(row: ExecutionRow): void {
    this.insertStmt.run({ ...row, code: compactCode(row.code), outputs: compactOutputs(row.outputs) });
  }

  list(sessionId: string, limit = 1000): ExecutionRow[] {
    return this.listStmt.all(sessionId, limit) as ExecutionRow[];
  }
}

/** Code longer than this (UTF-8 bytes) is kept as its first CODE_HEAD_CHARS characters and its sha256. */
export const CODE_KEEP_BYTES = 64 * 1024;
const CODE_HEAD_CHARS = 4096;
/** Outputs longer than this (JSON) lose their stream events, then the data of their largest display items. */
export const OUTPUTS_KEEP_BYTES = 256 * 1024;

/** The code as the history keeps it; the sha256 is the one the audit log records for the same call. */
export function compactCode(code: string): string {
  if (code.length * 3 <= CODE_KEEP_BYTES) return code;
  const bytes = Buffer.byteLength(code);
  if (bytes <= CODE_KEEP_BYTES) return code;
  const sha = createHash('sha256').update(code).digest('hex');
  return `${code.slice(0, CODE_HEAD_CHARS)}\n# …[${bytes} bytes of code not kept; sha256 ${sha}]\n`;
}

interface StoredItem {
  type?: string;
  data?: Record<string, unknown>;
}

/** The outputs JSON as the history keeps it: whole when small; otherwise what the notebook export needs, capped. */
export function compactOutputs(outputs: string): string {
  if (outputs.length <= OUTPUTS_KEEP_BYTES) return outputs;
  let value: { stdout?: unknown; stderr?: unknown; items?: StoredItem[] };
  try {
    value = JSON.parse(outputs) as typeof value;
  } catch {
    return '{}';
  }
  const items = (Array.isArray(value.items) ? value.items : []).filter((i) => i?.type !== 'stream');
  let text = JSON.stringify({ ...value, items });
  // Largest first: a display item's data (an image, a big HTML table) gives way to a note naming its size.
  const bySize = items
    .map((item, i) => ({ i, size: JSON.stringify(item.data ?? {}).length }))
    .sort((a, b) => b.size - a.size);
  for (const { i, size } of bySize) {
    if (text.length <= OUTPUTS_KEEP_BYTES) break;
    const item = items[i]!;
    items[i] = { ...item, data: { 'text/plain': `[output of ${size} bytes not kept in the history]` } };
    text = JSON.stringify({ ...value, items });
  }
  if (text.length <= OUTPUTS_KEEP_BYTES) return text;
  // Streams longer than the server's own cap (a large --output-cap): their heads.
  const head = (v: unknown) => (typeof v === 'string' ? v.slice(0, OUTPUTS_KEEP_BYTES / 8) : '');
  return JSON.stringify({ stdout: head(value.stdout), stderr: head(value.stderr), items: [] });
}
