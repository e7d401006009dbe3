// Renders an execute result as MCP content: a short text an agent reads first, plus inline images.
import type { ContentBlock } from '@modelcontextprotocol/server';
import type { BoundedChanges, ExecuteResult } from '../sessions/execute-result.js';
import { errorText } from './results.js';
import { changesText } from './artifact-links.js';

/** What execute and shell results share: notices, both streams and where the whole output went. */
export interface StreamsView {
  notices: string[];
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  full_output: { stdout?: string; stderr?: string };
}

export function streamsText(r: StreamsView): string[] {
  const parts: string[] = [];
  for (const n of r.notices) parts.push(`[notice] ${n}`);
  if (r.stdout) parts.push(r.stdout.replace(/\n$/, ''));
  if (r.stderr) parts.push(`[stderr]\n${r.stderr.replace(/\n$/, '')}`);
  if (r.stdout_truncated || r.stderr_truncated) {
    const files = Object.values(r.full_output).join(', ');
    parts.push(`[output_truncated] the full output is in the workspace: ${files}`);
  }
  return parts;
}

export function executeText(r: ExecuteResult & { artifacts: BoundedChanges | null }): string {
  const parts = streamsText(r);
  for (const d of r.displays) {
    const t = d['text/plain'];
    if (typeof t === 'string' && !d['image/png']) parts.push(t);
  }
  const plain = r.result?.['text/plain'];
  if (typeof plain === 'string') parts.push(`Out[${r.execution_count}]: ${plain}`);
  if (r.error) parts.push(errorText(r.error) + tracebackText(r));
  const files = changesText(r.artifacts);
  if (files) parts.push(files);
  parts.push(`(${r.status}, ${r.duration_ms} ms, execution ${r.execution_count})`);
  return parts.join('\n');
}

function tracebackText(r: ExecuteResult): string {
  const tb = r.error?.details?.['traceback'];
  if (!Array.isArray(tb) || tb.length === 0) return '';
  return '\n' + tb.join('').trimEnd();
}

/** Small PNG/JPEG displays inline as image content; larger ones are left to the artifacts. */
export function imageBlocks(r: ExecuteResult, inlineCap: number): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  const bundles = r.result ? [...r.displays, r.result] : r.displays;
  for (const d of bundles) {
    for (const mime of ['image/png', 'image/jpeg', 'image/gif']) {
      const data = d[mime];
      if (typeof data === 'string' && (data.length * 3) / 4 <= inlineCap) {
        blocks.push({ type: 'image', data, mimeType: mime });
        break;
      }
    }
  }
  return blocks;
}
