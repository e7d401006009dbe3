// Builds an nbformat 4.5 notebook from a session's execution history; pure data in, data out — must never do I/O.
import { randomUUID } from 'node:crypto';
import type { NotebookHistoryEntry, NotebookOutputItem } from './types.js';

/** A multiline string as nbformat stores it: one entry per line, each keeping its newline. */
export function toLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/(?<=\n)/);
  return lines;
}

export type NbOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string[] }
  | { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | {
      output_type: 'execute_result';
      execution_count: number | null;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface NbCodeCell {
  cell_type: 'code';
  id: string;
  execution_count: number | null;
  metadata: Record<string, unknown>;
  source: string[];
  outputs: NbOutput[];
}

export interface Notebook {
  nbformat: 4;
  nbformat_minor: 5;
  metadata: Record<string, unknown>;
  cells: NbCodeCell[];
}

/** JSON MIME types may hold any JSON value; every other MIME value must be a (multiline) string. */
const JSON_MIME = /^application\/(.*\+)?json$/;

function mimeBundle(data: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(data ?? {})) {
    if (value === undefined || value === null) continue;
    if (JSON_MIME.test(mime)) out[mime] = value;
    else if (typeof value === 'string') out[mime] = mime.startsWith('text/') ? toLines(value) : value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[mime] = value;
    else out[mime] = JSON.stringify(value);
  }
  return out;
}

function itemOutput(item: NotebookOutputItem, executionCount: number | null): NbOutput | null {
  if (item.type === 'error') {
    const e = item.error;
    if (!e) return null;
    return {
      output_type: 'error',
      ename: String(e.ename ?? ''),
      evalue: String(e.evalue ?? ''),
      traceback: Array.isArray(e.traceback) ? e.traceback.map(String) : [],
    };
  }
  const data = mimeBundle(item.data);
  if (item.type === 'execute_result') {
    return { output_type: 'execute_result', execution_count: executionCount, data, metadata: {} };
  }
  return { output_type: 'display_data', data, metadata: {} };
}

function countOf(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null;
}

/**
 * One code cell per history entry. Streams come first (the history keeps stdout and stderr whole, not
 * interleaved with displays), then displays and results in the order they were produced, then the error.
 */
export function buildNotebook(
  history: readonly NotebookHistoryEntry[],
  meta: { sessionId: string; exportedAt: string; newId?: () => string },
): Notebook {
  const newId = meta.newId ?? (() => randomUUID());
  const cells = history.map((entry): NbCodeCell => {
    const executionCount = countOf(entry.execution_count);
    const outputs: NbOutput[] = [];
    if (entry.stdout) outputs.push({ output_type: 'stream', name: 'stdout', text: toLines(entry.stdout) });
    if (entry.stderr) outputs.push({ output_type: 'stream', name: 'stderr', text: toLines(entry.stderr) });
    const items = entry.items ?? [];
    const errors: NbOutput[] = [];
    for (const item of items) {
      const out = itemOutput(item, executionCount);
      if (!out) continue;
      if (out.output_type === 'error') errors.push(out);
      else outputs.push(out);
    }
    outputs.push(...errors);
    return {
      cell_type: 'code',
      id: newId(),
      execution_count: executionCount,
      metadata: { sandbox_mcp: { status: entry.status } },
      source: toLines(entry.code),
      outputs,
    };
  });
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python', file_extension: '.py', mimetype: 'text/x-python' },
      sandbox_mcp: { session_id: meta.sessionId, exported_at: meta.exportedAt },
    },
    cells,
  };
}

/** A file name for notebooks/<name>.ipynb: letters, digits, '.', '-', '_' only, so it stays one segment. */
export function notebookFileName(name: string): string | null {
  const base = name.endsWith('.ipynb') ? name.slice(0, -'.ipynb'.length) : name;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(base)) return null;
  return `${base}.ipynb`;
}
