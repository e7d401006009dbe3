// Renders an execute result as MCP content: a short text an agent reads first, plus inline images, each large
// field (a stream, a long value, an image) going out once.
import type { ContentBlock } from '@modelcontextprotocol/server';
import type { MimeBundle } from '../sandbox/protocol.js';
import type { BoundedChanges, ExecuteResult } from '../sessions/execute-result.js';
import { errorText, fieldText } from './results.js';
import { changesText } from './artifact-links.js';
import { LIST_PAGE } from './bounded-lists.js';
import { BUNDLE_TEXT_CAP } from '../sessions/kept-events.js';

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

/** A longer text value is cut and marked (the running call already kept at most its head, sessions/kept-events.ts). */
/** A result's text values and inline images together hold at most this many times their one-value caps. */
export const RESULT_BUDGET_FACTOR = 4;
/** Bytes of a result's text budget kept for the lines that stand for values left out once the rest is spent. */
const MARK_ROOM = 16 * 1024;
/** Notices naming cut values, at most; the rest are counted in one more. */
const CUT_NOTICES = 5;

/** What a value costs in the result as it goes out: its JSON text (escapes included) in UTF-8 bytes. */
function sentBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

/** Bytes one UTF-16 unit takes in a JSON string (a surrogate pair's two take 4 together, a lone one 6). */
function unitCost(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0x20) return c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = s.charCodeAt(i + 1);
    return next >= 0xdc00 && next <= 0xdfff ? 4 : 6;
  }
  return c >= 0xdc00 && c <= 0xdfff ? 6 : 3;
}

/** The length of the longest start of `s` whose JSON string (quotes included) takes at most `room` bytes. */
function fittingLength(s: string, room: number): number {
  let used = 2;
  let i = 0;
  while (i < s.length) {
    const cost = unitCost(s, i);
    const units = cost === 4 ? 2 : 1;
    if (used + cost > room) break;
    used += cost;
    i += units;
  }
  return i;
}

/**
 * A value as the result sends it, within `cap` bytes of JSON: `sent` is what it then costs. A text value over the
 * cap is cut on a character boundary and ends with a line saying so (without `head`, that line stands alone);
 * another value (a JSON object) over it is left out, a line alone standing in for it; `bytes` (the value's own
 * size) is set when it was cut. Null when not even that line fits: the value goes, and its key with it.
 */
function fitValue(
  value: unknown,
  mime: string,
  cap: number,
  head = true,
): { value: unknown; sent: number; bytes?: number } | null {
  if (cap < 2) return null; // less than any JSON value but a digit, and than any line saying it was cut
  // Each UTF-16 unit of a string costs at least one byte of JSON: one longer than the cap cannot fit.
  const sent = typeof value === 'string' && value.length > cap ? Infinity : sentBytes(value);
  if (sent <= cap) return { value, sent };
  if (typeof value !== 'string' || !head) {
    const text = typeof value === 'string';
    const bytes = text ? Buffer.byteLength(value) : sent;
    const line = `[cut: this ${mime} value is ${bytes} bytes${text ? '' : ' of JSON'}; it was left out]`;
    const lineBytes = sentBytes(line);
    return lineBytes <= cap ? { value: line, sent: lineBytes, bytes } : null;
  }
  const bytes = Buffer.byteLength(value);
  // The line after the head names two sizes, neither longer than the value's: its room is kept first.
  const line = (head: number) => `\n[cut: this ${mime} value is ${bytes} bytes; the first ${head} are above]`;
  const room = cap - (sentBytes(line(bytes)) - 2);
  if (room < 2) return null;
  const kept = value.slice(0, fittingLength(value, room));
  const text = kept + line(Buffer.byteLength(kept));
  return { value: text, sent: sentBytes(text), bytes };
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
  let dropped = 0; // values left out whole: the budget had no room even for the line saying so
  let textRoom = RESULT_BUDGET_FACTOR * textCap;
  let imageRoom = RESULT_BUDGET_FACTOR * inlineCap;
  const shape = (bundle: MimeBundle, file: string | null, where: string): MimeBundle => {
    let out = bundle;
    for (const [mime, value] of Object.entries(bundle)) {
      if (IMAGE_MIMES.includes(mime)) continue;
      const keyBytes = sentBytes(mime) + 2; // the key, its colon and a comma
      // The last MARK_ROOM bytes of the budget are for the lines standing in for values that come after it is spent.
      const fit =
        fitValue(value, mime, Math.min(textCap, textRoom - MARK_ROOM) - keyBytes) ??
        fitValue(value, mime, Math.min(textCap, textRoom) - keyBytes, false);
      if (fit !== null && fit.bytes === undefined) {
        textRoom -= keyBytes + fit.sent;
        continue;
      }
      if (out === bundle) out = { ...bundle }; // copied once, however many of its values change
      if (fit === null) {
        delete out[mime];
        dropped++;
        continue;
      }
      textRoom -= keyBytes + fit.sent;
      out[mime] = fit.value;
      cuts.push(`${where}['${mime}'] (${fit.bytes} bytes)`);
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
  if (dropped)
    notices.push(
      `${dropped} display value(s) were left out: the ${RESULT_BUDGET_FACTOR * textCap} bytes a result holds for ` +
        'display values were used up; write them to a workspace file from Python and read_file it to have them',
    );
  return { blocks, result, displays, notices };
}
