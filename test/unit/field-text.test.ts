// A structured field as a result's text shows it: whole when short, else its two ends and where the whole is.
import { describe, expect, it } from 'vitest';
import { fieldText, TEXT_WHOLE_MAX } from '../../src/server/results.js';

describe('fieldText', () => {
  it('gives a short field whole, without its last newline', () => {
    expect(fieldText('a\nb\n', 'stdout')).toBe('a\nb');
    const edge = 'x'.repeat(TEXT_WHOLE_MAX);
    expect(fieldText(edge, 'stdout')).toBe(edge);
  });

  it('gives a long field as its first and last characters, its size and the field that holds it', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const text = fieldText(lines, 'stderr');
    expect(text.length).toBeLessThan(TEXT_WHOLE_MAX);
    expect(text.startsWith('line 0\nline 1\n')).toBe(true);
    expect(text.endsWith('line 4998\nline 4999')).toBe(true);
    expect(text).toContain(`[… ${lines.length} characters, 5000 line(s)`);
    expect(text).toContain('the whole is in structuredContent.stderr]');
  });

  it('never cuts a character in two', () => {
    // 'a' first, so the cuts at 512 and at length - 1024 fall between the two halves of an emoji
    const value = 'a' + '😀'.repeat(3000) + 'b';
    const text = fieldText(value, 'stdout');
    expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(text.startsWith('a😀')).toBe(true);
    expect(text.endsWith('😀b')).toBe(true);
  });

  it('counts characters, not UTF-16 units, and lines as a reader does', () => {
    // 3,002 characters (as Python's len() counts them), 6,002 UTF-16 units
    expect(fieldText('a' + '😀'.repeat(3000) + 'b', 'stdout')).toContain('[… 3002 characters, 1 line(s)');
    const rows = '行'.repeat(40) + '\n';
    expect(fieldText(rows.repeat(100), 'stdout')).toContain('[… 4100 characters, 100 line(s)');
    expect(fieldText(rows.repeat(100) + 'tail', 'stdout')).toContain('[… 4104 characters, 101 line(s)');
    expect(fieldText('\n'.repeat(3000), 'stdout')).toContain('[… 3000 characters, 3000 line(s)');
  });
});
