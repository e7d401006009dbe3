// Unit tests for change tracking on real folders: what a call created, changed and deleted, and that unchanged files are never hashed again; never writes outside its temp folder.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultFileIO, type FileIO } from '../../src/workspace/file-io.js';
import {
  ArtifactTracker,
  HashCache,
  diff,
  isExcludedPath,
  isoTime,
  snapshot,
} from '../../src/artifacts/tracker.js';
import { MAX_WATCHED_DIRS } from '../../src/artifacts/workspace-watch.js';

let ws: string;

beforeEach(() => {
  ws = realpathSync(mkdtempSync(join(tmpdir(), 'tracker-')));
});

afterEach(() => rmSync(ws, { recursive: true, force: true }));

function put(rel: string, content: string | Buffer): void {
  mkdirSync(join(ws, rel, '..'), { recursive: true });
  writeFileSync(join(ws, rel), content);
}

/** Counts reads so a test can prove a file was (not) hashed. */
function countingIO(): FileIO & { hashed: string[] } {
  const hashed: string[] = [];
  return {
    hashed,
    hash: (abs, root) => {
      hashed.push(abs.slice(root.length + 1));
      return defaultFileIO.hash(abs, root);
    },
    head: (abs, root, bytes) => defaultFileIO.head(abs, root, bytes),
  };
}

/** Past the window in which a just-written file's stat cannot be trusted, so hashes get cached. */
const settle = () => new Promise((r) => setTimeout(r, 40));

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('snapshot', () => {
  it('records regular files and skips environments, caches, agent state, symlinks and FIFOs', async () => {
    put('data/a.csv', 'x\n');
    put('.sandbox/outputs/3.stdout.txt', 'long output');
    put('.sandbox/state/kernel.json', '{}');
    put('.venv/lib/site.py', '');
    put('pkg/__pycache__/m.cpython-312.pyc', '');
    put('.cache/pip/x', '');
    put('nb/.ipynb_checkpoints/a-checkpoint.ipynb', '{}');
    symlinkSync('/etc/passwd', join(ws, 'passwd-link'));
    execFileSync('mkfifo', [join(ws, 'pipe')]);
    const snap = await snapshot(ws);
    expect([...snap.files.keys()].sort()).toEqual(['.sandbox/outputs/3.stdout.txt', 'data/a.csv']);
    expect(snap.files.get('data/a.csv')).toMatchObject({ size: 2 });
  });

  it('matches exclusions by folder name at any depth and by prefix for .sandbox/state', () => {
    expect(isExcludedPath('a/b/__pycache__/x.pyc')).toBe(true);
    expect(isExcludedPath('.sandbox/state/x')).toBe(true);
    expect(isExcludedPath('.sandbox/outputs/1.stdout.txt')).toBe(false);
    expect(isExcludedPath('notes/.venv-info.txt')).toBe(false);
  });
});

describe('isoTime', () => {
  it('never throws on modification times a Date cannot hold', () => {
    expect(isoTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoTime(1e20)).toBe('+275760-09-13T00:00:00.000Z');
    expect(isoTime(Number.NaN)).toBe('1970-01-01T00:00:00.000Z');
  });
});

describe('diff', () => {
  it('reports created, changed and deleted files with their category, hash and URI', async () => {
    put('keep.txt', 'same');
    put('edit.csv', 'a,b\n1,2\n');
    put('gone.py', 'print(1)\n');
    const before = await snapshot(ws);
    put('edit.csv', 'a,b\n1,2\n3,4\n');
    unlinkSync(join(ws, 'gone.py'));
    put('plots/my fig#1.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const after = await snapshot(ws);
    const io = countingIO();
    const changes = await diff(before, after, { sessionId: 's_abc', io });
    expect(changes.created).toEqual([
      {
        path: 'plots/my fig#1.svg',
        category: 'plots',
        mime: 'image/svg+xml',
        size: 41,
        sha256: sha('<svg xmlns="http://www.w3.org/2000/svg"/>'),
        mtime: statSync(join(ws, 'plots/my fig#1.svg')).mtime.toISOString(),
        uri: 'sandbox://sessions/s_abc/files/plots/my%20fig%231.svg',
      },
    ]);
    expect(changes.changed.map((a) => [a.path, a.category, a.sha256])).toEqual([
      ['edit.csv', 'data', sha('a,b\n1,2\n3,4\n')],
    ]);
    expect(changes.deleted).toEqual(['gone.py']);
    expect(io.hashed.sort()).toEqual(['edit.csv', 'plots/my fig#1.svg']);
  });

  it('detects a rewrite that keeps the size, even with the old mtime put back', async () => {
    put('w.bin', 'AAAA');
    const old = statSync(join(ws, 'w.bin'));
    const before = await snapshot(ws);
    await settle();
    put('w.bin', 'BBBB');
    utimesSync(join(ws, 'w.bin'), old.atime, old.mtime);
    const changes = await diff(before, await snapshot(ws), { sessionId: 's' });
    expect(changes.changed.map((a) => [a.path, a.size, a.sha256])).toEqual([['w.bin', 4, sha('BBBB')]]);
  });

  it('does not report a file whose stat changed but whose content did not (touch)', async () => {
    put('t.txt', 'content');
    const cache = new HashCache();
    const first = await snapshot(ws);
    await settle();
    // Learn the hash once, as a listing would.
    await diff({ root: first.root, files: new Map() }, first, { sessionId: 's', cache });
    const touched = new Date(Date.now() + 5_000);
    utimesSync(join(ws, 't.txt'), touched, touched);
    const changes = await diff(first, await snapshot(ws), { sessionId: 's', cache });
    expect(changes).toEqual({ created: [], changed: [], deleted: [] });
  });
});

describe('ArtifactTracker', () => {
  it('never hashes unchanged files, however many calls run', async () => {
    for (let i = 0; i < 50; i++) put(`data/f${i}.txt`, `file ${i}`);
    const io = countingIO();
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's', io });
    await t.begin();
    expect(await t.end()).toEqual({ created: [], changed: [], deleted: [] });
    expect(io.hashed).toEqual([]);

    await t.begin();
    put('out.csv', 'a\n1\n');
    const changes = await t.end();
    expect(changes.created.map((a) => a.path)).toEqual(['out.csv']);
    expect(io.hashed).toEqual(['out.csv']);

    for (let i = 0; i < 3; i++) {
      await t.begin();
      expect(await t.end()).toEqual({ created: [], changed: [], deleted: [] });
    }
    expect(io.hashed).toEqual(['out.csv']);
  });

  it('hashes each file at most once across listings while it stays unchanged', async () => {
    for (let i = 0; i < 5; i++) put(`f${i}.txt`, `file ${i}`);
    await settle();
    const io = countingIO();
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's', io });
    await t.withHashes(await t.describeAll({ hash: false }));
    expect(io.hashed).toHaveLength(5);
    await t.withHashes(await t.describeAll({ hash: false }));
    await t.describeAll({ hash: true });
    expect(io.hashed).toHaveLength(5);
    put('f0.txt', 'changed');
    await t.describeAll({ hash: true });
    expect(io.hashed).toHaveLength(6);
  });

  it('reuses the previous end state, so begin() does not walk an unchanged workspace', async () => {
    put('a.txt', 'a');
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end(); // watches the folders it walked: the next call walks once more
    await t.begin();
    await t.end();
    await t.begin();
    expect(t.lastBeginWalked).toBe(false);
    t.invalidate();
    await t.begin();
    expect(t.lastBeginWalked).toBe(true);
    t.close();
  });

  it('does not attribute host-side writes and deletes to the next call', async () => {
    put('old.txt', 'old');
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end();
    put('uploaded.csv', 'a\n1\n');
    const noted = await t.noteHostWrite('uploaded.csv', {
      sha256: sha('a\n1\n'),
      category: 'data',
      mime: 'text/csv',
    });
    expect(noted).toMatchObject({
      size: 4,
      mtimeNs: statSync(join(ws, 'uploaded.csv'), { bigint: true }).mtimeNs,
    });
    expect(await t.noteHostWrite('.venv/lib/x.py')).toBeUndefined();
    unlinkSync(join(ws, 'old.txt'));
    t.noteHostDelete('old.txt');
    await t.begin();
    put('made-by-code.txt', 'x');
    const changes = await t.end();
    expect(changes.created.map((a) => a.path)).toEqual(['made-by-code.txt']);
    expect(changes.deleted).toEqual([]);
  });

  it('does not attribute a host write made during the call, unless the code changes it again', async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    put('host.txt', 'from host');
    await t.noteHostWrite('host.txt');
    put('other.txt', 'by code');
    expect((await t.end()).created.map((a) => a.path)).toEqual(['other.txt']);
  });

  it("does not report what others wrote between calls (a web app, a background process) as the next call's work", async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end();
    put('background.log', 'written between calls');
    put('sub/app.db', 'a web app writes here');
    await t.begin();
    put('by-the-call.txt', 'x');
    expect((await t.end()).created.map((a) => a.path)).toEqual(['by-the-call.txt']);
    expect(t.lastBeginWalked).toBe(true);
    t.close();
  });

  it('picks up changes made by others after invalidate(), even where the folder watch is not used', async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end();
    put('restored.txt', 'from a rollback');
    t.invalidate();
    await t.begin();
    expect((await t.end()).created).toEqual([]);
  });

  it('never follows a symlink the code planted, and does not hang on a FIFO', async () => {
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    symlinkSync('/etc/passwd', join(ws, 'stolen'));
    execFileSync('mkfifo', [join(ws, 'fifo')]);
    put('real.txt', 'ok');
    const changes = await t.end();
    expect(changes.created.map((a) => a.path)).toEqual(['real.txt']);
  });

  it('starts no further read after one fails, and rethrows that failure', async () => {
    for (let i = 0; i < 30; i++) put(`f${String(i).padStart(2, '0')}.txt`, `file ${i}`);
    let started = 0;
    const t = new ArtifactTracker({
      workspace: ws,
      sessionId: 's',
      io: {
        hash: async (abs, root) => {
          started++;
          if (abs.endsWith('/f00.txt')) throw new Error('disk failure');
          await new Promise((r) => setTimeout(r, 5));
          return defaultFileIO.hash(abs, root);
        },
        head: defaultFileIO.head,
      },
    });
    await expect(t.describeAll({ hash: true })).rejects.toThrow('disk failure');
    const atFailure = started;
    expect(atFailure).toBeLessThanOrEqual(8); // only the reads already in flight
    await settle();
    expect(started).toBe(atFailure);
  });

  it('reports a file deleted while it was being described as deleted, not as an error', async () => {
    put('a.txt', 'a');
    const t = new ArtifactTracker({
      workspace: ws,
      sessionId: 's',
      io: {
        hash: async (abs, root) => {
          unlinkSync(abs);
          return defaultFileIO.hash(abs, root);
        },
        head: defaultFileIO.head,
      },
    });
    await t.begin();
    put('a.txt', 'changed!');
    put('b.txt', 'new');
    const changes = await t.end();
    expect(changes).toEqual({ created: [], changed: [], deleted: ['a.txt'] });
  });
});

describe('change tracking with the folder watch', () => {
  /** A tracker past its first calls, so its folders are watched and an unchanged call walks nothing. */
  async function settled(): Promise<ArtifactTracker> {
    put('keep/nested/deep.txt', 'deep');
    put('top.txt', 'top');
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end(); // watches the folders it walked: the next call walks once more
    await t.begin();
    await t.end();
    await t.begin();
    expect((await t.end()).created).toEqual([]);
    expect(t.lastEndWalked).toBe(false);
    return t;
  }

  it('ends a call that changed nothing without walking, and walks again after any change', async () => {
    const t = await settled();
    await t.begin();
    put('keep/nested/deep.txt', 'deeper');
    const changes = await t.end();
    expect(t.lastEndWalked).toBe(true);
    expect(changes.changed.map((a) => a.path)).toEqual(['keep/nested/deep.txt']);
    t.close();
  });

  it('reports files made in a new folder, in a replaced folder, renamed, chmodded and deleted', async () => {
    const t = await settled();
    await t.begin();
    put('fresh/dir/new.txt', 'n');
    expect((await t.end()).created.map((a) => a.path)).toEqual(['fresh/dir/new.txt']);

    // A folder the previous call created is watched from its walk on: a later write there is seen.
    await t.begin();
    put('fresh/dir/later.txt', 'l');
    expect((await t.end()).created.map((a) => a.path)).toEqual(['fresh/dir/later.txt']);

    await t.begin();
    rmSync(join(ws, 'keep/nested'), { recursive: true });
    mkdirSync(join(ws, 'keep/nested'));
    expect((await t.end()).deleted).toEqual(['keep/nested/deep.txt']);
    await t.begin();
    await t.end();
    await t.begin();
    put('keep/nested/again.txt', 'a'); // inside the new folder of the same name
    expect((await t.end()).created.map((a) => a.path)).toEqual(['keep/nested/again.txt']);

    await t.begin();
    execFileSync('mv', [join(ws, 'top.txt'), join(ws, 'fresh/top.txt')]);
    const moved = await t.end();
    expect(moved.created.map((a) => a.path)).toEqual(['fresh/top.txt']);
    expect(moved.deleted).toEqual(['top.txt']);

    await t.begin();
    await t.end();
    await t.begin();
    utimesSync(join(ws, 'fresh/top.txt'), 1, 1);
    await t.end();
    expect(t.lastEndWalked).toBe(true); // touched: walked, though the content is the same
    t.close();
  });

  it('walks after every call when there are too many folders to watch', async () => {
    for (let i = 0; i <= MAX_WATCHED_DIRS; i++) mkdirSync(join(ws, `d${i}`));
    const t = new ArtifactTracker({ workspace: ws, sessionId: 's' });
    await t.begin();
    await t.end();
    await t.begin();
    expect(t.lastBeginWalked).toBe(false); // once per call is enough
    await t.end();
    expect(t.lastEndWalked).toBe(true);
    t.close();
  });
});
