// An execute result's display bundles stay within their byte caps as sent (JSON in UTF-8), whatever the text holds.
import { describe, expect, it } from 'vitest';
import { bundlesForResult, RESULT_BUDGET_FACTOR } from '../../src/server/execute-format.js';
import { BUNDLE_TEXT_CAP } from '../../src/sessions/kept-events.js';
import type { MimeBundle } from '../../src/sandbox/protocol.js';

/** What a value costs in the result as it goes out: its JSON text, in UTF-8 bytes. */
const sent = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

function shape(displays: MimeBundle[], result: MimeBundle | null = null) {
  return bundlesForResult({ displays, result, image_files: undefined }, 256 * 1024, 1);
}

/** Every text value of every bundle is within the one-value cap, and all of them within the result's budget. */
function expectWithinCaps(out: ReturnType<typeof shape>) {
  const values = [...out.displays, ...(out.result ? [out.result] : [])].flatMap((b) => Object.values(b));
  for (const v of values) expect(sent(v)).toBeLessThanOrEqual(BUNDLE_TEXT_CAP);
  expect(values.reduce<number>((n, v) => n + sent(v), 0)).toBeLessThanOrEqual(
    RESULT_BUDGET_FACTOR * BUNDLE_TEXT_CAP,
  );
}

describe('bundlesForResult: byte caps as sent', () => {
  it('cuts a JSON value of CJK text by its bytes, not its characters', () => {
    // 200,000 characters of JSON, 600,000 bytes of UTF-8: under the cap counted in characters, over it in bytes.
    const value = { rows: ['数据'.repeat(50_000), '表格'.repeat(50_000)] };
    const out = shape([{ 'application/json': value, 'text/plain': '<table>' }]);
    expectWithinCaps(out);
    expect(out.displays[0]!['application/json']).toMatch(
      /^\[cut: this application\/json value is 600\d+ bytes/,
    );
    expect(out.displays[0]!['text/plain']).toBe('<table>');
    expect(out.notices.join('\n')).toContain("displays[0]['application/json']");
  });

  it('keeps many multi-byte and escaped text values within the budget, each cut on a character boundary', () => {
    // Coloured terminal output: each escape character goes out as six bytes (\u001b), each 😀 as four.
    const line = '\x1b[31m错误\x1b[0m 😀 "quoted"\t\\path\n';
    const displays = Array.from({ length: 30 }, () => ({ 'text/plain': line.repeat(6_000) }));
    const out = shape(displays, { 'text/plain': '😀'.repeat(100_000) });
    expectWithinCaps(out);
    const values = out.displays.map((d) => d['text/plain'] as string);
    const cut = values.filter((v) => v.startsWith(line));
    expect(cut.length).toBeGreaterThanOrEqual(RESULT_BUDGET_FACTOR - 1);
    for (const v of cut) {
      expect(v).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      expect(v).toMatch(/\[cut: this text\/plain value is 2\d+ bytes; the first \d+ are above\]$/);
    }
    // Past the budget each value is a line saying it was left out.
    for (const v of values.slice(cut.length))
      expect(v).toMatch(/^\[cut: this text\/plain value is 2\d+ bytes; it was left out\]$/);
    expect(out.result!['text/plain']).toMatch(
      /^\[cut: this text\/plain value is 400000 bytes; it was left out\]$/,
    );
    expect(out.notices.join('\n')).toContain('more display values were cut the same way');
  });

  it('does not let many small values past the budget grow into longer cut lines', () => {
    // A bundle of many tiny values after one that fills the budget: each is smaller than a line saying it was cut.
    const tiny: MimeBundle = {};
    for (let i = 0; i < 50_000; i++) tiny[`text/x-${i}`] = 'x';
    const fill = { 'text/plain': 'y'.repeat(RESULT_BUDGET_FACTOR * BUNDLE_TEXT_CAP) };
    const out = shape([fill, fill, fill, fill, tiny]);
    const bytes = out.displays.reduce<number>((n, d) => n + sent(d), 0);
    expect(bytes).toBeLessThanOrEqual(RESULT_BUDGET_FACTOR * BUNDLE_TEXT_CAP + 1024);
    expectWithinCaps(out);
    expect(out.notices.join('\n')).toMatch(/\d+ display value\(s\) were left out/);
  });

  it('leaves values within the caps as they are', () => {
    const small = { 'text/html': '<b>表</b>', 'application/json': { a: ['😀', 1] } };
    const out = shape([small], { 'text/plain': "'ok'" });
    expect(out.displays).toEqual([small]);
    expect(out.result).toEqual({ 'text/plain': "'ok'" });
    expect(out.notices).toEqual([]);
  });
});
