// The change tracker's walk stopped at its entry cap: files it did not reach are neither reported deleted nor created,
// changes among the files it reached still are, and the call is told; a folder swapped for a symlink is never listed.
import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactTracker } from '../../src/artifacts/tracker.js';
import { isUnseen, snapshot } from '../../src/artifacts/workspace-walk.js';

let ws: string;
let host: string;

beforeEach(() => {
  ws = realpathSync(mkdtempSync(join(tmpdir(), 'walk-cap-')));
  host = realpathSync(mkdtempSync(join(tmpdir(), 'walk-host-')));
});

afterEach(() => {
  rmSync(ws, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

function put(rel: string, content = 'x'): void {
  mkdirSync(join(ws, rel, '..'), { recursive: true });
  writeFileSync(join(ws, rel), content);
}

describe('a walk stopped at its entry cap', () => {
  it('knows which paths it did not reach', async () => {
    for (let i = 0; i < 30; i++) put(`a/f${i}`);
    for (let i = 0; i < 30; i++) put(`b/f${i}`);
    const snap = await snapshot(ws, { maxEntries: 40 });
    expect(snap.unseen).toBeDefined();
    expect(snap.files.size).toBeLessThan(60);
    for (let i = 0; i < 30; i++) {
      for (const d of ['a', 'b']) {
        const p = `${d}/f${i}`;
        expect(isUnseen(snap, p)).toBe(!snap.files.has(p));
      }
    }
    expect(isUnseen(await snapshot(ws), 'a/f0')).toBe(false);
  });

  it('reports changes among the files it reached, never the others as deleted or created', async () => {
    for (let i = 0; i < 5; i++) put(`top${i}`);
    for (let i = 0; i < 50; i++) put(`many/f${String(i).padStart(2, '0')}`);
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's', maxEntries: 20 });
    await t.begin();
    expect(t.takeNotices().join('\n')).toMatch(/more than 20 entries/);
    const seen = [...(await t.scan()).files.keys()].filter((p) => p.startsWith('many/'));
    expect(seen.length).toBe(14); // the root's six entries first, then 14 of the folder's
    writeFileSync(join(ws, seen[0]!), 'changed');
    const changes = await t.end();
    expect(changes.changed.map((a) => a.path)).toEqual([seen[0]]);
    expect(changes.created).toEqual([]);
    expect(changes.deleted).toEqual([]);
    expect(t.takeNotices().join('\n')).toMatch(/more than 20 entries/);
    // Room made where it looked first: the next walk reaches files it never saw, which the call did not create.
    await t.begin();
    for (let i = 0; i < 5; i++) rmSync(join(ws, `top${i}`));
    const after = await t.end();
    expect(after.deleted).toEqual(['top0', 'top1', 'top2', 'top3', 'top4']);
    expect(after.created).toEqual([]);
    t.close();
  });
});

describe('the walk', () => {
  it('lists a folder through its descriptor, so one replaced by a symlink is never followed', async () => {
    writeFileSync(join(host, 'host-secret.txt'), 'x');
    put('d/inner.txt');
    symlinkSync(host, join(ws, 'link'));
    const snap = await snapshot(ws);
    expect([...snap.files.keys()].sort()).toEqual(['d/inner.txt']);
  });
});

describe('hashing within a budget', () => {
  it('describes the files past the budget without a hash, and says which', async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's', hashBudget: 1000 });
    await t.begin();
    put('a.txt', 'a'.repeat(600));
    put('b.txt', 'b'.repeat(600));
    const changes = await t.end();
    const hashed = changes.created.filter((a) => a.sha256 !== null);
    const unhashed = changes.created.filter((a) => a.sha256 === null);
    expect(hashed).toHaveLength(1);
    expect(unhashed).toHaveLength(1);
    expect(unhashed[0]!.size).toBe(600);
    expect(t.takeNotices()).toEqual([
      `files listed with sha256 null were not read whole, past the 1000 bytes one call hashes: ${unhashed[0]!.path}`,
    ]);
    t.close();
  });

  it('describes a sparse file without reading it', async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    put('small.bin', 'x');
    truncateSync(join(ws, 'small.bin'), 64 * 1024 * 1024);
    const changes = await t.end();
    expect(changes.created.map((a) => [a.path, a.size, a.sha256])).toEqual([
      ['small.bin', 64 * 1024 * 1024, null],
    ]);
    expect(t.takeNotices().join('\n')).toMatch(/sparse.*small\.bin/);
    t.close();
  });
});
