// Renders an execute result as MCP content: a short text an agent reads first, plus inline images, each large
// field (a stream, a long value, an image) going out once.
import type { ContentBlock } from '@modelcontextprotocol/server';
import type { MimeBundle } from '../sandbox/protocol.js';
import type { BoundedChanges, ExecuteResult } from '../sessions/execute-result.js';
import { errorText, fieldText } from './results.js';
import { changesText } from './artifact-links.js';
import { LIST_PAGE } from './bounded-lists.js';

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
  if (r.stdout) parts.push(fieldText(r.stdout, 'stdout'));
  if (r.stderr) parts.push(`[stderr]\n${fieldText(r.stderr, 'stderr')}`);
  if (r.stdout_truncated || r.stderr_truncated) {
    const files = Object.values(r.full_output).join(', ');
    parts.push(`[output_truncated] the full output is in the workspace: ${files}`);
  }
  return parts;
}

export function executeText(r: ExecuteResult & { artifacts: BoundedChanges | null }): string {
  const parts = streamsText(r);
  r.displays.forEach((d, i) => {
    const t = d['text/plain'];
    if (typeof t === 'string' && !d['image/png']) parts.push(fieldText(t, `displays[${i}]['text/plain']`));
  });
  const plain = r.result?.['text/plain'];
  if (typeof plain === 'string')
    parts.push(`Out[${r.execution_count}]: ${fieldText(plain, "result['text/plain']")}`);
  if (r.error) parts.push(errorText(r.error) + tracebackText(r));
  const files = changesText(r.artifacts);
  if (files) parts.push(files);
  parts.push(`(${r.status}, ${r.duration_ms} ms, execution ${r.execution_count})`);
  return parts.join('\n');
}

function tracebackText(r: ExecuteResult): string {
  const tb = r.error?.details?.['traceback'];
  if (!Array.isArray(tb) || tb.length === 0) return '';
  return '\n' + fieldText(tb.join('').trimEnd(), 'error.details.traceback');
}

const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/gif'];

/** The most UTF-8 bytes of one text value (text/html, text/plain…) a bundle keeps; a longer one is cut and marked. */
export const BUNDLE_TEXT_CAP = 256 * 1024;
/** A result's text values and inline images together hold at most this many times their one-value caps. */
const RESULT_BUDGET_FACTOR = 4;
/** Notices naming cut values, at most; the rest are counted in one more. */
const CUT_NOTICES = 5;

/**
 * A text value cut to at most `cap` UTF-8 bytes on a character boundary, with a line saying so; another value (a
 * JSON object) over `cap` bytes as JSON is left out, with that line alone. Null when the value fits.
 */
function cutValue(value: unknown, mime: string, cap: number): { text: string; bytes: number } | null {
  if (typeof value !== 'string') {
    const json = JSON.stringify(value) ?? '';
    if (json.length <= cap) return null;
    const bytes = Buffer.byteLength(json);
    return { text: `[cut: this ${mime} value is ${bytes} bytes of JSON; it was left out]`, bytes };
  }
  const text = value;
  if (text.length <= cap / 3) return null;
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= cap) return null;
  let end = cap;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  const head = buf.subarray(0, end).toString('utf8');
  return {
    text: `${head}\n[cut: this ${mime} value is ${buf.length} bytes; the first ${end} are above]`,
    bytes: buf.length,
  };
}

/** What stands in structuredContent for an image that is not sent as its data. */
export type ImageStandIn = { content_index: number } | { omitted_bytes: number; file: string | null };

/**
 * The result's bundles as structuredContent carries them, and the image content that goes beside them. An image up
 * to `inlineCap` bytes becomes an image block, and its bundle entry `{content_index}`, the block's place in the
 * content (`firstIndex` is where the image blocks start), so its bytes are not in the result twice. A larger one
 * becomes `{omitted_bytes, file}`: the kernel saved it as that workspace file, so the result stays small and the
 * image is still whole where read_file and resources/read reach it. A text value over `textCap` bytes is cut, marked
 * in the value, and named in a notice. All of them together stay within a budget: text values share
 * RESULT_BUDGET_FACTOR × `textCap` bytes and inline images as many times `inlineCap` (an image past it gets its
 * stand-in), and at most LIST_PAGE displays are kept, the others counted in a notice.
 */
export function bundlesForResult(
  r: Pick<ExecuteResult, 'result' | 'displays' | 'image_files'>,
  inlineCap: number,
  firstIndex: number,
  textCap = BUNDLE_TEXT_CAP,
): { blocks: ContentBlock[]; result: MimeBundle | null; displays: MimeBundle[]; notices: string[] } {
  const blocks: ContentBlock[] = [];
  const cuts: string[] = [];
  let textRoom = RESULT_BUDGET_FACTOR * textCap;
  let imageRoom = RESULT_BUDGET_FACTOR * inlineCap;
  const shape = (bundle: MimeBundle, file: string | null, where: string): MimeBundle => {
    let out = bundle;
    for (const [mime, value] of Object.entries(bundle)) {
      if (IMAGE_MIMES.includes(mime)) continue;
      const cap = Math.max(0, Math.min(textCap, textRoom));
      const cut = cutValue(value, mime, cap);
      textRoom -= cut
        ? cap
        : Buffer.byteLength(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
      if (!cut) continue;
      out = { ...out, [mime]: cut.text };
      cuts.push(`${where}['${mime}'] (${cut.bytes} bytes)`);
    }
    let inlined = false;
    for (const mime of IMAGE_MIMES) {
      const data = bundle[mime];
      if (typeof data !== 'string') continue;
      const bytes = Buffer.byteLength(data, 'base64');
      const fits = bytes <= inlineCap && bytes <= imageRoom;
      let standIn: ImageStandIn;
      if (!inlined && fits) {
        blocks.push({ type: 'image', data, mimeType: mime });
        standIn = { content_index: firstIndex + blocks.length - 1 };
        inlined = true;
        imageRoom -= bytes;
      } else if (!fits) standIn = { omitted_bytes: bytes, file };
      else {
        imageRoom -= bytes; // a second, small format of an image already sent: kept as it is
        continue;
      }
      out = { ...out, [mime]: standIn };
    }
    return out;
  };
  const files = r.image_files;
  const notices: string[] = [];
  const kept = r.displays.slice(0, LIST_PAGE);
  if (kept.length < r.displays.length)
    notices.push(
      `the call made ${r.displays.length} displays; the first ${kept.length} are in this result, the others were ` +
        'left out (images among them are workspace files: list_artifacts lists them)',
    );
  const displays = kept.map((d, i) => shape(d, files?.displays[i] ?? null, `displays[${i}]`));
  const result = r.result ? shape(r.result, files?.result ?? null, 'result') : null;
  for (const where of cuts.slice(0, CUT_NOTICES))
    notices.push(
      `${where} is more than a result holds (${textCap} bytes a value): it was cut, and says so at its end; ` +
        'write the value to a workspace file from Python and read_file it to have it whole',
    );
  if (cuts.length > CUT_NOTICES)
    notices.push(`${cuts.length - CUT_NOTICES} more display values were cut the same way`);
  return { blocks, result, displays, notices };
}
