// What a running call keeps of the displays and results its code sends: bounded in count and bytes, the rest counted.
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/sandbox/protocol.js';
import {
  KEPT_DISPLAYS,
  KEPT_EVENT_BYTES,
  KEPT_HEAD_CHARS,
  KeptEvents,
} from '../../src/sessions/kept-events.js';

const display = (data: Record<string, unknown>): AgentEvent => ({ type: 'display_data', id: 'r', data });

describe('KeptEvents', () => {
  it('keeps as many displays as a result shows and counts the others', () => {
    const kept = new KeptEvents();
    for (let i = 0; i < 1000; i++) kept.add(display({ 'text/plain': String(i) }));
    expect(kept.list).toHaveLength(KEPT_DISPLAYS);
    expect(kept.notices().join('\n')).toContain(`the call made 1000 displays; the first ${KEPT_DISPLAYS}`);
  });

  it('keeps one result, the last, with the room of the earlier one given back', () => {
    const kept = new KeptEvents();
    const big = 'r'.repeat(KEPT_EVENT_BYTES * 0.6);
    for (let i = 0; i < 10; i++)
      kept.add({ type: 'execute_result', id: 'r', execution_count: 1, data: { 'text/plain': `${i}${big}` } });
    expect(kept.list).toHaveLength(1);
    expect(String((kept.list[0] as { data: Record<string, unknown> }).data['text/plain'])).toBe(`9${big}`);
    expect(kept.notices()).toEqual([]);
  });

  it('cuts text past the budget to a head naming the whole size, and leaves out images past it', () => {
    const kept = new KeptEvents();
    const huge = 'x'.repeat(30 * 1024 * 1024);
    for (let i = 0; i < 10; i++)
      kept.add(display({ 'text/plain': huge, 'image/png': 'iVBORw0KGgo'.repeat(1e6) }));
    const texts = kept.list.map((e) => String((e as { data: Record<string, unknown> }).data['text/plain']));
    expect(texts[0]).toMatch(/\n\[cut: this text\/plain value is 31457280 bytes; the first \d+ are above\]$/);
    const keptChars = texts.reduce((n, t) => n + t.length, 0);
    expect(keptChars).toBeLessThan(KEPT_HEAD_CHARS + 10 * 200);
    expect(kept.notices().join('\n')).toMatch(
      /\d+ text value\(s\) were cut to their head .* \d+ value\(s\) were left out/,
    );
  });
});
