// What a running call keeps of its displays and results: as many as a result shows and a bounded number of bytes,
// whatever the code sends; the rest is counted as it arrives and named in the result's notices.
import type { AgentEvent, MimeBundle } from '../sandbox/protocol.js';

/** The most UTF-8 bytes of one text value (text/html, text/plain…) a result's bundle shows. */
export const BUNDLE_TEXT_CAP = 256 * 1024;
/** Displays a call keeps: as many as a result shows. */
export const KEPT_DISPLAYS = 100;
/**
 * Characters of display data (values, their keys and metadata) a call keeps whole: far more than a result shows (4
 * text values of BUNDLE_TEXT_CAP and 4 inline images), so the result still cuts what it shows, naming each value cut.
 */
export const KEPT_EVENT_BYTES = 16 * 1024 * 1024;
/**
 * Characters of the heads kept of text values that did not fit whole: the 4 values of BUNDLE_TEXT_CAP a result shows
 * (server/execute-format.ts RESULT_BUDGET_FACTOR); a result would leave out text past it.
 */
export const KEPT_HEAD_CHARS = 4 * BUNDLE_TEXT_CAP;
/** A text value that does not fit is kept as a head this long at most: short enough that a result shows it whole. */
const HEAD_CHARS = BUNDLE_TEXT_CAP - 4096;
/** Less room than this left: a value that does not fit is left out (the result's budget would cut such a head again). */
const MIN_HEAD = 32 * 1024;
const IMAGE_MIMES = new Set(['image/png', 'image/jpeg', 'image/gif']);

type DataEvent = Extract<AgentEvent, { type: 'display_data' | 'execute_result' }>;

/** The events of one call in order, within KEPT_DISPLAYS displays and KEPT_EVENT_BYTES bytes of data. */
export class KeptEvents {
  readonly list: AgentEvent[] = [];
  private room = KEPT_EVENT_BYTES;
  private headRoom = KEPT_HEAD_CHARS;
  private displays = 0;
  private result: { ev: AgentEvent; cost: number; headsCost: number } | null = null;
  /** Displays past KEPT_DISPLAYS: left out whole. */
  private omittedDisplays = 0;
  /** Values cut to their head, and values left out (images, JSON, text when no room was left). */
  private cutValues = 0;
  private droppedValues = 0;

  add(ev: AgentEvent): void {
    if (ev.type === 'stream') return;
    if (ev.type === 'error') {
      if (this.displays >= KEPT_DISPLAYS) return void this.omittedDisplays++;
      const cost = sizeOf(ev.error);
      if (cost > this.room) return void this.droppedValues++;
      this.room -= cost;
      this.displays++;
      this.list.push(ev);
      return;
    }
    if (ev.type === 'display_data') {
      if (this.displays >= KEPT_DISPLAYS) return void this.omittedDisplays++;
      this.displays++;
      this.list.push(this.shrink(ev).ev);
      return;
    }
    // One result a call: a later one replaces the earlier (the result shows the last), and gives back its room.
    if (this.result) {
      this.room += this.result.cost;
      this.headRoom += this.result.headsCost;
      this.list.splice(this.list.indexOf(this.result.ev), 1);
    }
    this.result = this.shrink(ev);
    this.list.push(this.result.ev);
  }

  /** What the result says of the displays and values it does not hold whole. */
  notices(): string[] {
    const out: string[] = [];
    if (this.omittedDisplays)
      out.push(
        `the call made ${KEPT_DISPLAYS + this.omittedDisplays} displays; the first ${KEPT_DISPLAYS} are in this ` +
          'result and the history, the others were left out (images among them are workspace files: list_artifacts ' +
          'lists them)',
      );
    if (this.cutValues || this.droppedValues)
      out.push(
        `the call's displays passed the ${KEPT_EVENT_BYTES} bytes a call keeps of them: ` +
          `${this.cutValues} text value(s) were cut to their head (each says so at its end) and ` +
          `${this.droppedValues} value(s) were left out (images are workspace files: list_artifacts lists them); ` +
          'write large values to a workspace file from Python and read_file it to have them whole',
      );
    return out;
  }

  /** The event with the values that fit in the room left whole, text that does not cut to its head, others left out. */
  private shrink<E extends DataEvent>(ev: E): { ev: E; cost: number; headsCost: number } {
    const before = this.room;
    const data: MimeBundle = {};
    let changed = false;
    const headsBefore = this.headRoom;
    let bytes = 0;
    for (const [mime, value] of Object.entries(ev.data)) {
      const cost = mime.length + sizeOf(value);
      bytes += cost;
      if (cost <= this.room) {
        data[mime] = value;
        this.room -= cost;
        continue;
      }
      changed = true;
      const headRoom = Math.min(HEAD_CHARS, this.room, this.headRoom) - mime.length - 128;
      if (typeof value !== 'string' || IMAGE_MIMES.has(mime) || headRoom < MIN_HEAD) {
        this.droppedValues++;
        continue;
      }
      const head = headOf(value, headRoom);
      const cut = `${head}\n[cut: this ${mime} value is ${Buffer.byteLength(value)} bytes; the first ${Buffer.byteLength(head)} are above]`;
      data[mime] = cut;
      this.room -= mime.length + cut.length;
      this.headRoom -= mime.length + cut.length;
      this.cutValues++;
    }
    // A display none of whose values were kept still says what it was.
    if (changed && Object.keys(data).length === 0)
      data['text/plain'] = `[a display of ${bytes} characters, not kept: see the notices]`;
    let metadata = ev.metadata;
    const metaCost = metadata === undefined ? 0 : sizeOf(metadata);
    if (metaCost <= this.room) this.room -= metaCost;
    else {
      // Only the name of the workspace file the kernel saved the image as is needed past the budget.
      const name = metadata?.['filename'];
      metadata = typeof name === 'string' && name.length <= 4096 ? { filename: name } : {};
      changed = true;
    }
    const kept = changed ? { ...ev, data, ...(metadata !== undefined && { metadata }) } : ev;
    return { ev: kept, cost: before - this.room, headsCost: headsBefore - this.headRoom };
  }
}

/** What a value holds, in characters of its JSON (a string's own length): the measure of the budget. */
function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  return JSON.stringify(value)?.length ?? 4;
}

/**
 * The first `max` characters of `s` (never half a surrogate pair) as a string of their own: a slice would keep the
 * whole value alive behind it.
 */
function headOf(s: string, max: number): string {
  let n = Math.min(max, s.length);
  const last = s.charCodeAt(n - 1);
  if (last >= 0xd800 && last <= 0xdbff) n--;
  return Buffer.from(s.slice(0, n), 'utf8').toString('utf8');
}
