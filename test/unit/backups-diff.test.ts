// Unit tests for the pure parts of backups: manifest diffs, symlink containment and the worker pool.
import { describe, expect, it } from 'vitest';
import { diffEntries, type ComparableEntry } from '../../src/backups/diff.js';
import { forEachLimit } from '../../src/for-each-limit.js';
import { linkPointsInside } from '../../src/backups/scan.js';

const f = (path: string, sha: string, mode = 0o644): ComparableEntry => ({
  path,
  kind: 'file',
  sha256: sha,
  target: null,
  mode,
});

describe('diffEntries', () => {
  it('finds added, changed (content, mode, type, link target) and deleted paths, ignoring folders', () => {
    const before: ComparableEntry[] = [
      f('same', 'a'),
      f('content', 'a'),
      f('mode', 'a'),
      f('gone', 'a'),
      f('type', 'a'),
      { path: 'ln', kind: 'symlink', sha256: null, target: 'x', mode: 0o777 },
      { path: 'dir', kind: 'dir', sha256: null, target: null, mode: 0o755 },
    ];
    const after: ComparableEntry[] = [
      f('same', 'a'),
      f('content', 'b'),
      f('mode', 'a', 0o755),
      f('new', 'c'),
      { path: 'type', kind: 'symlink', sha256: null, target: 'same', mode: 0o777 },
      { path: 'ln', kind: 'symlink', sha256: null, target: 'y', mode: 0o777 },
      { path: 'other-dir', kind: 'dir', sha256: null, target: null, mode: 0o755 },
    ];
    expect(diffEntries(before, after)).toEqual({
      added: ['new'],
      changed: ['content', 'ln', 'mode', 'type'],
      deleted: ['gone'],
      unchanged: 1,
    });
  });
});

describe('linkPointsInside', () => {
  const ws = '/data/sessions/s/workspace';
  it('accepts relative targets that stay inside, and absolute ones under /workspace or the host workspace', () => {
    expect(linkPointsInside('a/b/link', '../c', ws)).toBe(true);
    expect(linkPointsInside('link', '.', ws)).toBe(true);
    expect(linkPointsInside('link', '/workspace/data.csv', ws)).toBe(true);
    expect(linkPointsInside('link', `${ws}/x`, ws)).toBe(true);
  });
  it('refuses targets that leave it', () => {
    expect(linkPointsInside('link', '..', ws)).toBe(false);
    expect(linkPointsInside('a/link', '../../etc', ws)).toBe(false);
    expect(linkPointsInside('link', '/etc/passwd', ws)).toBe(false);
    expect(linkPointsInside('link', '/workspace-other/x', ws)).toBe(false);
    expect(linkPointsInside('link', `${ws}/../other`, ws)).toBe(false);
    expect(linkPointsInside('link', '', ws)).toBe(false);
  });
});

describe('forEachLimit', () => {
  it('never runs more than the limit at once and rethrows the first failure', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(n);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await expect(
      forEachLimit([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });
});
