// pageLists and firstEntries: the first entries or a page across several lists read one after the other, with whole
// counts, what was left out and how to get it.
import { describe, expect, it } from 'vitest';
import { firstEntries, pageLists } from '../../src/server/bounded-lists.js';

const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('pageLists', () => {
  const lists = { added: range('a', 150), changed: range('c', 30), deleted: range('d', 70) };

  it('fills the page list after list, and every entry is on exactly one page', () => {
    const seen: string[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const p: ReturnType<typeof pageLists<typeof lists>> = pageLists('diff_backups', lists, {
        offset,
        limit: 100,
      });
      const page = [...p.lists.added, ...p.lists.changed, ...p.lists.deleted];
      expect(page.length).toBeLessThanOrEqual(100);
      expect(p.counts).toEqual({ added: 150, changed: 30, deleted: 70 });
      expect(p.omitted).toBe(250 - page.length);
      seen.push(...page);
      offset = p.next_offset;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...lists.added, ...lists.changed, ...lists.deleted]);
  });

  it('says how to get the rest, and nothing when nothing was left out', () => {
    const first = pageLists('diff_backups', lists);
    expect(first.lists.added).toHaveLength(100);
    expect(first.lists.changed).toEqual([]);
    expect(first.next_offset).toBe(100);
    expect(first.more).toContain('diff_backups with offset 100');
    const middle = pageLists('diff_backups', lists, { offset: 140, limit: 20 });
    expect(middle.lists).toEqual({ added: range('a', 150).slice(140), changed: range('c', 10), deleted: [] });
    expect(middle.more).toContain('offset 160');
    expect(middle.more).toContain('offset 0 starts from the first');
    const whole = pageLists('diff_backups', lists, { limit: 1000 });
    expect(whole.omitted).toBe(0);
    expect(whole.more).toBeNull();
    expect(whole.next_offset).toBeNull();
  });

  it('past the end: an empty page that counts everything as left out', () => {
    const p = pageLists('verify_backup', { missing: range('m', 5), corrupt: [] }, { offset: 50 });
    expect(p.lists).toEqual({ missing: [], corrupt: [] });
    expect(p.omitted).toBe(5);
    expect(p.next_offset).toBeNull();
    expect(p.more).toBe('offset 0 starts from the first');
  });
});

describe('firstEntries', () => {
  const lists = { removed: range('r', 60), failed: range('f', 60) };

  it('keeps the first entries list after list and says what was cut, from the cut it was given', () => {
    const seen: Array<{ removed: number; failed: number }> = [];
    const b = firstEntries(lists, 100, (cut) => {
      seen.push({ removed: cut.lists.removed.length, failed: cut.lists.failed.length });
      return `${cut.counts.failed - cut.lists.failed.length} failed not listed`;
    });
    expect(b.lists).toEqual({ removed: lists.removed, failed: range('f', 40) });
    expect(b.counts).toEqual({ removed: 60, failed: 60 });
    expect(b.omitted).toBe(20);
    expect(b.more).toBe('20 failed not listed');
    expect(seen).toEqual([{ removed: 60, failed: 40 }]);
  });

  it('says nothing, and is not asked, when nothing was cut', () => {
    const b = firstEntries(lists, 120, () => {
      throw new Error('asked for a way to the rest with nothing left out');
    });
    expect(b.omitted).toBe(0);
    expect(b.more).toBeNull();
  });
});
