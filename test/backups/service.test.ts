// Behaviour of the backups service on real files and a real SQLite database; never touches anything outside its temp folder.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { BackupsRepo } from '../../src/store/backups-repo.js';
import { duBytes, makeEnv, randomFile, treeMap, writeTree, type Env, type Spec } from './helpers.js';
import { Dir } from '../../src/fsafe/dir.js';
import { DirCache } from '../../src/fsafe/files.js';

const SID = 's_test';

function richTree(): Spec {
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    randomFile(3000),
  ]);
  return {
    'empty.txt': '',
    'binary.bin': Buffer.from([0, 1, 2, 255, 0, 0, 13, 10, 26]),
    'plot.png': png,
    'run.sh': { mode: 0o755, data: '#!/bin/sh\necho hi\n' },
    'secret.txt': { mode: 0o600, data: 'only me' },
    'readonly.csv': { mode: 0o444, data: 'a,b\n1,2\n' },
    'a/b/c/d/deep.json': '{"deep": true}',
    'données/été ☃.txt': 'unicode content é',
    '日本語/ファイル.md': '# 見出し',
    'emoji 🎉/x.py': 'print(1)\n',
    'empty-folder': { dir: 0o755 },
    private: { dir: 0o700 },
    'link-inside': { link: 'a/b/c/d/deep.json' },
    'a/link-up': { link: '../plot.png' },
    'link-outside': { link: '/etc/passwd' },
    'link-escape': { link: '../../../../etc' },
    '.venv/lib/site.py': 'venv stuff',
    'pkg/mod.py': 'X = 1\n',
    'pkg/__pycache__/mod.cpython-312.pyc': 'bytecode',
    '.cache/big': 'cache',
  };
}

function code(err: unknown): string | undefined {
  return err instanceof SandboxError ? err.code : undefined;
}

async function rejectsWith(p: Promise<unknown>, expected: string): Promise<SandboxError> {
  try {
    await p;
  } catch (err) {
    expect(code(err), String(err)).toBe(expected);
    return err as SandboxError;
  }
  throw new Error(`expected ${expected}, but it resolved`);
}

let env: Env;
beforeEach(() => {
  env = makeEnv();
});
afterEach(() => env.cleanup());

describe('backup and rollback round trip', () => {
  it('restores binary, empty, nested, unicode and mode-bearing files, folders and inside symlinks exactly', async () => {
    writeTree(env.workspace, richTree());
    const before = treeMap(env.workspace);
    const mtimeBefore = statSync(join(env.workspace, 'binary.bin')).mtimeMs;
    const progress: Array<[number, number]> = [];
    const b = await env.service.backup(SID, env.workspace, {
      reason: 'manual',
      onProgress: (d, t) => progress.push([d, t]),
    });

    expect(b.name).toMatch(/^backup_\d{8}T\d{6}Z$/);
    expect(b.skipped.map((s) => s.path).sort()).toEqual(['link-escape', 'link-outside']);
    expect(b.totals.images).toEqual({ files: 1, bytes: 3008 });
    expect(progress.at(-1)).toEqual([b.file_count, b.file_count]);
    expect(progress.map((p) => p[0])).toEqual(progress.map((_, i) => i + 1));

    const inode = statSync(env.workspace).ino;
    // Lose everything but the virtualenv, then roll back.
    for (const name of readdirSync(env.workspace))
      if (name !== '.venv') rmSync(join(env.workspace, name), { recursive: true, force: true });
    writeFileSync(join(env.workspace, 'made-later.txt'), 'new');
    const r = await env.service.rollback(SID, b.name, env.workspace);

    const expected = { ...before };
    delete expected['link-outside'];
    delete expected['link-escape'];
    expect(treeMap(env.workspace)).toEqual(expected);
    expect(statSync(env.workspace).ino).toBe(inode);
    expect(readFileSync(join(env.workspace, '.venv/lib/site.py'), 'utf8')).toBe('venv stuff');
    expect(Math.abs(statSync(join(env.workspace, 'binary.bin')).mtimeMs - mtimeBefore)).toBeLessThan(1);
    expect(r.removed_files).toBe(1);
    expect(r.python_restarted_required).toBe(false);
    expect(readdirSync(join(env.workspace, '..')).filter((n) => n.startsWith('.rollback'))).toEqual([]);
    await env.service.idle(); // the old tree is deleted after the answer
    expect(readdirSync(join(env.dataDir, 'trash'))).toEqual([]);
  });

  it('removes files made after the backup, and the pre_rollback backup undoes the rollback', async () => {
    writeTree(env.workspace, { 'keep.txt': 'v1', 'change.txt': 'v1', 'dir/in.txt': 'v1', 'pkg/m.py': 'x=1' });
    const v1 = treeMap(env.workspace);
    await env.service.backup(SID, env.workspace, { name: 'v1', reason: 'manual' });

    writeTree(env.workspace, {
      'change.txt': 'v2',
      'new.txt': 'new',
      'newdir/deeper/f.bin': randomFile(100),
      'pkg/__pycache__/m.pyc': 'pyc',
      '.venv/x': 'env',
    });
    unlinkSync(join(env.workspace, 'dir/in.txt'));
    const v2 = treeMap(env.workspace);

    const r = await env.service.rollback(SID, 'v1', env.workspace);
    expect(treeMap(env.workspace)).toEqual(v1);
    expect(existsSync(join(env.workspace, 'new.txt'))).toBe(false);
    expect(r).toMatchObject({ backup: 'v1', restored_files: 2, removed_files: 2, unchanged_files: 2 });
    // Excluded folders are left alone, also when nested in a restored folder.
    expect(readFileSync(join(env.workspace, 'pkg/__pycache__/m.pyc'), 'utf8')).toBe('pyc');
    expect(readFileSync(join(env.workspace, '.venv/x'), 'utf8')).toBe('env');

    const undo = await env.service.rollback(SID, r.pre_rollback_backup, env.workspace);
    expect(treeMap(env.workspace)).toEqual(v2);
    expect(undo).toMatchObject({ restored_files: 3, removed_files: 1 });
    const list = await env.service.list(SID);
    expect(list.map((b) => b.reason)).toEqual(['pre_rollback', 'pre_rollback', 'manual']);
  });
});

describe('content-addressed storage', () => {
  it('stores an unchanged 50 MB workspace once across two backups', async () => {
    for (let i = 0; i < 5; i++)
      writeFileSync(join(env.workspace, `part${i}.bin`), randomFile(10 * 1024 * 1024));
    writeFileSync(join(env.workspace, 'copy-of-part0.bin'), readFileSync(join(env.workspace, 'part0.bin')));
    const first = await env.service.backup(SID, env.workspace, { reason: 'auto' });
    const second = await env.service.backup(SID, env.workspace, { reason: 'auto' });
    // Touching every file forces re-reading; content is still stored once.
    const t = new Date(Date.now() - 60_000);
    for (const n of readdirSync(env.workspace)) utimesSync(join(env.workspace, n), t, t);
    const third = await env.service.backup(SID, env.workspace, { reason: 'auto' });

    const blobs = duBytes(join(env.dataDir, 'blobs'));
    expect(first.new_bytes).toBe(50 * 1024 * 1024);
    expect(second.new_bytes).toBe(0);
    expect(third.new_bytes).toBe(0);
    expect(third.unchanged_files_reused).toBe(0);
    expect(blobs).toBe(50 * 1024 * 1024);
    expect(second.name).not.toBe(first.name);
    const list = await env.service.list(SID);
    expect(list).toHaveLength(3);
    expect(list.every((b) => b.total_size === 60 * 1024 * 1024 && b.unique_bytes === 0)).toBe(true);
  });

  it('counts a re-read file whose stored copy vanished as new bytes', async () => {
    writeFileSync(join(env.workspace, 'kept.bin'), randomFile(3000));
    // old enough for its stat key to be trusted: the clock the read is judged by runs 1.1 s ahead of the file's ctime
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 1100);
    let first;
    try {
      first = await env.service.backup(SID, env.workspace, { name: 'a', reason: 'manual' });
    } finally {
      vi.useRealTimers();
    }
    expect(first.new_bytes).toBe(3000);
    const sha = createHash('sha256')
      .update(readFileSync(join(env.workspace, 'kept.bin')))
      .digest('hex');
    unlinkSync(join(env.dataDir, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2)));
    const second = await env.service.backup(SID, env.workspace, { name: 'b', reason: 'manual' });
    expect(second.unchanged_files_reused).toBe(1);
    expect(second.new_bytes).toBe(3000);
    expect((await env.service.verify(SID, 'b')).ok).toBe(true);
  });

  it('reports bytes only one backup holds, newest first', async () => {
    writeTree(env.workspace, { 'shared.txt': 'same', 'only-a.txt': 'aaaa' });
    await env.service.backup(SID, env.workspace, { name: 'a', reason: 'manual' });
    unlinkSync(join(env.workspace, 'only-a.txt'));
    writeFileSync(join(env.workspace, 'only-b.txt'), 'bbbbbbbb');
    await env.service.backup(SID, env.workspace, { name: 'b', reason: 'manual' });
    const list = await env.service.list(SID);
    expect(list.map((b) => [b.name, b.file_count, b.total_size, b.unique_bytes])).toEqual([
      ['b', 2, 12, 8],
      ['a', 2, 8, 4],
    ]);
  });
});

describe('retention', () => {
  it('never deletes the backup just made, even when the clock went backwards', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    const svc = env.reopen({ maxBackups: 2, now: () => new Date((t -= 60_000)) });
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(env.workspace, `f${i}.txt`), `content ${i}`);
      const b = await svc.backup(SID, env.workspace, { reason: 'auto' });
      made.push(b.name);
      expect((await svc.list(SID)).map((x) => x.name)).toContain(b.name);
      expect(b.retention).not.toBeNull();
    }
    const names = (await svc.list(SID)).map((x) => x.name);
    expect(names).toHaveLength(3); // the two "newest" by time, plus the one just made
    expect(names).toContain(made[3]);
  });

  it('never deletes the backup a rollback is restoring from', async () => {
    const svc = env.reopen({ maxBackups: 1 });
    writeFileSync(join(env.workspace, 'a.txt'), 'v1');
    await svc.backup(SID, env.workspace, { name: 'v1', reason: 'manual' });
    writeFileSync(join(env.workspace, 'a.txt'), 'v2');
    const r = await svc.rollback(SID, 'v1', env.workspace);
    expect((await svc.list(SID)).map((b) => b.name)).toEqual([r.pre_rollback_backup, 'v1']);
    expect(readFileSync(join(env.workspace, 'a.txt'), 'utf8')).toBe('v1');
    // The next backup's retention may now drop both older ones.
    const next = await svc.backup(SID, env.workspace, { reason: 'auto' });
    expect((await svc.list(SID)).map((b) => b.name)).toEqual([next.name]);
    expect(next.retention?.deleted.sort()).toEqual([r.pre_rollback_backup, 'v1'].sort());
  });

  it('keeps the newest N and named ones, frees blobs nothing references, and leaves the rest verifiable', async () => {
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(env.workspace, 'common.bin'), 'shared by all');
      writeFileSync(join(env.workspace, 'v.bin'), randomFile(1000 + i));
      await env.service.backup(SID, env.workspace, { name: `b${i}`, reason: 'manual' });
    }
    const res = await env.service.cleanupOld(SID, 2, { keep: ['b0'] });
    expect(res.deleted.sort()).toEqual(['b1', 'b2']);
    expect(res.kept).toEqual(['b4', 'b3', 'b0']);
    expect(res.bytes_freed).toBe(1001 + 1002);
    expect(res.blobs_deleted).toBe(2);
    for (const n of res.kept) expect((await env.service.verify(SID, n)).ok).toBe(true);
    await rejectsWith(env.service.cleanupOld(SID, -1), 'invalid_argument');
    await rejectsWith(env.service.cleanupOld(SID, 1.5), 'invalid_argument');
  });

  it('deletes every backup of a session and its blobs when asked to keep 0', async () => {
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(env.workspace, 'v.bin'), randomFile(1000 + i));
      await env.service.backup(SID, env.workspace, { name: `b${i}`, reason: 'manual' });
    }
    writeFileSync(join(env.workspace, 'v.bin'), 'other session');
    await env.service.backup('s_other', env.workspace, { name: 'theirs', reason: 'manual' });
    // A backup a rollback is restoring from survives even this.
    const repo = new BackupsRepo(env.db);
    const marker = repo.insertRollback({
      session_id: SID,
      backup_name: 'b1',
      workspace: env.workspace,
      pid: process.pid,
      started_at: new Date().toISOString(),
    });
    const held = await env.service.cleanupOld(SID, 0);
    expect(held.deleted.sort()).toEqual(['b0', 'b2']);
    expect(held.kept).toEqual(['b1']);
    expect(held.blobs_deleted).toBe(2);
    repo.deleteRollback(marker);

    const res = await env.service.cleanupOld(SID, 0);
    expect(res).toEqual({ deleted: ['b1'], kept: [], blobs_deleted: 1, bytes_freed: 1001 });
    expect(await env.service.list(SID)).toEqual([]);
    expect(duBytes(join(env.dataDir, 'blobs', 'sha256'))).toBe('other session'.length);
    expect((await env.service.verify('s_other', 'theirs')).ok).toBe(true);
  });
});

describe('verification', () => {
  it('catches a corrupted and a missing blob, and rollback then refuses with the workspace untouched', async () => {
    writeTree(env.workspace, { 'good.txt': 'fine', 'bad.txt': 'will rot', 'gone.txt': 'will vanish' });
    await env.service.backup(SID, env.workspace, { name: 'v1', reason: 'manual' });
    writeTree(env.workspace, { 'bad.txt': 'changed since', 'extra.txt': 'new' });
    const state = treeMap(env.workspace);
    const blobOf = (content: string): string => {
      const sha = createHash('sha256').update(content).digest('hex');
      return join(env.dataDir, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2));
    };
    chmodSync(blobOf('will rot'), 0o644);
    writeFileSync(blobOf('will rot'), 'will rOt');
    unlinkSync(blobOf('will vanish'));

    const v = await env.service.verify(SID, 'v1');
    expect(v).toMatchObject({ ok: false, checked_files: 3, corrupt: ['bad.txt'], missing: ['gone.txt'] });

    const err = await rejectsWith(env.service.rollback(SID, 'v1', env.workspace), 'internal');
    expect(err.details).toMatchObject({ corrupt: ['bad.txt'], missing: ['gone.txt'] });
    expect(treeMap(env.workspace)).toEqual(state);
    expect((await env.service.list(SID)).map((b) => b.name)).toEqual(['v1']); // no pre_rollback backup was taken
    expect(readdirSync(join(env.workspace, '..')).filter((n) => n.startsWith('.rollback'))).toEqual([]);
  });
});

describe('names', () => {
  it('refuses bad names and never overwrites an existing backup', async () => {
    writeFileSync(join(env.workspace, 'f.txt'), 'x');
    for (const bad of ['../x', '', 'x'.repeat(1000), 'a\0b', 'with space', 'x'.repeat(65), 'é']) {
      await rejectsWith(
        env.service.backup(SID, env.workspace, { name: bad, reason: 'manual' }),
        'invalid_argument',
      );
    }
    await env.service.backup(SID, env.workspace, { name: 'x'.repeat(64), reason: 'manual' });
    await env.service.backup(SID, env.workspace, { name: 'mine', reason: 'manual' });
    const err = await rejectsWith(
      env.service.backup(SID, env.workspace, { name: 'mine', reason: 'manual' }),
      'invalid_argument',
    );
    expect(err.message).toMatch(/already exists/);
    // The same name in another session is a different backup.
    await env.service.backup('s_other', env.workspace, { name: 'mine', reason: 'manual' });
    await rejectsWith(
      env.service.backup(SID, env.workspace, { reason: 'bogus' as 'manual' }),
      'invalid_argument',
    );
  });

  it('makes default names unique within the same second', async () => {
    const svc = env.reopen({ now: () => new Date('2026-11-28T03:55:12.345Z') });
    const a = await svc.backup(SID, env.workspace, { reason: 'auto' });
    const b = await svc.backup(SID, env.workspace, { reason: 'auto' });
    expect([a.name, b.name]).toEqual(['backup_20261128T035512Z', 'backup_20261128T035512Z_2']);
  });

  it('answers not_found for unknown backups in every operation', async () => {
    writeFileSync(join(env.workspace, 'f.txt'), 'x');
    await env.service.backup(SID, env.workspace, { name: 'real', reason: 'manual' });
    await rejectsWith(env.service.details(SID, 'nope', env.workspace), 'not_found');
    await rejectsWith(env.service.rollback(SID, 'nope', env.workspace), 'not_found');
    await rejectsWith(env.service.verify(SID, 'nope'), 'not_found');
    await rejectsWith(env.service.restoreFile(SID, 'nope', 'f.txt', env.workspace), 'not_found');
    await rejectsWith(env.service.diffBackups(SID, 'real', 'nope'), 'not_found');
    await rejectsWith(env.service.details('s_other', 'real', env.workspace), 'not_found');
    await rejectsWith(env.service.restoreFile(SID, 'real', 'missing.txt', env.workspace), 'not_found');
  });
});

describe('details, diffs and single-file restore', () => {
  it('derives the per-category totals of a stored backup from its files, matching what the backup reported', async () => {
    writeTree(env.workspace, richTree());
    const b = await env.service.backup(SID, env.workspace, { name: 'rich', reason: 'manual' });
    const d = await env.service.details(SID, 'rich', env.workspace);
    expect(d.totals).toEqual(b.totals);
    const sum = Object.values(b.totals).reduce((a, t) => [a[0]! + t.files, a[1]! + t.bytes], [0, 0]);
    expect([b.file_count, b.total_size]).toEqual(sum);
    expect([d.file_count, d.total_size]).toEqual(sum);
  });

  it('lists files by category and diffs the backup against the workspace and another backup', async () => {
    writeTree(env.workspace, { 'a.py': 'print(1)', 'b.csv': '1,2', 'c.txt': 'doc', 'sub/d.txt': 'doc2' });
    await env.service.backup(SID, env.workspace, { name: 'one', reason: 'manual' });
    writeTree(env.workspace, { 'a.py': 'print(2)', 'new.json': '{}' });
    unlinkSync(join(env.workspace, 'c.txt'));
    chmodSync(join(env.workspace, 'b.csv'), 0o600);
    const d = await env.service.details(SID, 'one', env.workspace);
    expect(d.totals).toEqual({
      code: { files: 1, bytes: 8 },
      data: { files: 1, bytes: 3 },
      documents: { files: 2, bytes: 7 },
    });
    expect(d.categories.documents?.items.map((i) => i.path)).toEqual(['c.txt', 'sub/d.txt']);
    expect(d.folders).toEqual(['sub']);
    expect(d.diff_vs_workspace).toEqual({
      added: ['new.json'],
      changed: ['a.py', 'b.csv'],
      deleted: ['c.txt'],
    });

    await env.service.backup(SID, env.workspace, { name: 'two', reason: 'manual' });
    expect(await env.service.diffBackups(SID, 'one', 'two')).toEqual({
      from: 'one',
      to: 'two',
      added: ['new.json'],
      changed: ['a.py', 'b.csv'],
      deleted: ['c.txt'],
    });
  });

  it('restores one file atomically and refuses paths that leave the workspace', async () => {
    writeTree(env.workspace, { 'dir/f.txt': 'original', 'other.txt': 'other v1', ln: { link: 'dir/f.txt' } });
    await env.service.backup(SID, env.workspace, { name: 'one', reason: 'manual' });
    writeFileSync(join(env.workspace, 'other.txt'), 'other v2');
    rmSync(join(env.workspace, 'dir'), { recursive: true });
    unlinkSync(join(env.workspace, 'ln'));

    const r = await env.service.restoreFile(SID, 'one', 'dir/f.txt', env.workspace);
    expect(r).toMatchObject({ path: 'dir/f.txt', kind: 'file', size: 8 });
    expect(readFileSync(join(env.workspace, 'dir/f.txt'), 'utf8')).toBe('original');
    expect(readFileSync(join(env.workspace, 'other.txt'), 'utf8')).toBe('other v2');
    await env.service.restoreFile(SID, 'one', 'ln', env.workspace);
    expect(readFileSync(join(env.workspace, 'ln'), 'utf8')).toBe('original');
    expect(readdirSync(join(env.workspace, 'dir'))).toEqual(['f.txt']); // no temp files left behind

    for (const bad of ['../etc/passwd', '', 'a\0b', '/etc/passwd', 'dir/../../x']) {
      await rejectsWith(env.service.restoreFile(SID, 'one', bad, env.workspace), 'invalid_argument');
    }
    // A folder swapped for a symlink to the outside must not redirect the write.
    const outside = join(env.base, 'outside');
    mkdirSync(outside);
    rmSync(join(env.workspace, 'dir'), { recursive: true });
    symlinkSync(outside, join(env.workspace, 'dir'));
    await rejectsWith(env.service.restoreFile(SID, 'one', 'dir/f.txt', env.workspace), 'invalid_argument');
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe('categories', () => {
  it('uses the artifacts categorizer by default', async () => {
    const svc = env.reopen({ categorize: undefined });
    writeTree(env.workspace, {
      'plots/fig.png': Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        randomFile(100),
      ]),
      'photo.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
      'table.csv': 'a,b\n',
      'model.pkl': Buffer.from([0x80, 0x04, 0x95, 0, 0, 0]),
    });
    const b = await svc.backup(SID, env.workspace, { reason: 'manual' });
    expect(Object.keys(b.totals).sort()).toEqual(['data', 'images', 'models', 'plots']);
  });
});

describe('reading', () => {
  it('hashes files that fit the read buffer and files that do not, keeping bytes only for the former', async () => {
    const { hashWorkspaceFile } = await import('../../src/backups/read-file.js');
    const dirs = new DirCache(Dir.openPath(env.workspace));
    const small = randomFile(100);
    const big = randomFile(1000);
    writeFileSync(join(env.workspace, 'small.bin'), small);
    writeFileSync(join(env.workspace, 'big.bin'), big);
    const buf = Buffer.alloc(256);
    const a = await hashWorkspaceFile(dirs, 'small.bin', buf);
    expect(a.sha256).toBe(createHash('sha256').update(small).digest('hex'));
    expect(Buffer.compare(a.data!, small)).toBe(0);
    const b = await hashWorkspaceFile(dirs, 'big.bin', buf);
    expect(b).toMatchObject({
      sha256: createHash('sha256').update(big).digest('hex'),
      size: 1000,
      data: null,
    });
    expect(Buffer.compare(Buffer.from(b.head), big.subarray(0, 256))).toBe(0); // the head is at most one buffer
    // A file exactly the buffer's size cannot be told from a longer one mid-read; it is streamed.
    writeFileSync(join(env.workspace, 'exact.bin'), randomFile(256));
    const c = await hashWorkspaceFile(dirs, 'exact.bin', buf);
    expect(c).toMatchObject({ size: 256, data: null });
    dirs.close();
    dirs.root.close();
  });
});

describe('the byte budget', () => {
  it('reads a file grown past its grant only while the budget has room, else skips it', async () => {
    const { hashWorkspaceFile, copyToBlobTemp, SkipFile } = await import('../../src/backups/read-file.js');
    const { ByteBudget } = await import('../../src/fsafe/byte-budget.js');
    const { BlobStore } = await import('../../src/backups/blob-store.js');
    writeFileSync(join(env.workspace, 'grew.bin'), randomFile(1000));
    const dirs = new DirCache(Dir.openPath(env.workspace));
    try {
      // planned at 600 bytes; 1000 when read: the 400 more come from the budget
      const roomy = new ByteBudget(1500);
      roomy.take(600);
      const grant = { granted: 600, budget: roomy };
      expect((await hashWorkspaceFile(dirs, 'grew.bin', Buffer.alloc(256), grant)).size).toBe(1000);
      expect([grant.granted, roomy.left]).toEqual([1000, 500]);
      const tight = new ByteBudget(700);
      tight.take(600);
      const err = new SkipFile("grew while being read past the backup's byte budget (700 bytes)");
      await expect(
        hashWorkspaceFile(dirs, 'grew.bin', Buffer.alloc(256), { granted: 600, budget: tight }),
      ).rejects.toThrow(err);
      await expect(
        copyToBlobTemp(dirs, 'grew.bin', new BlobStore(env.dataDir), false, Buffer.alloc(256), {
          granted: 600,
          budget: tight,
        }),
      ).rejects.toThrow(err);
      expect(tight.left).toBe(100);
    } finally {
      dirs.close();
      dirs.root.close();
    }
  });

  it('leaves the largest files out of a backup first, each with the reason', async () => {
    const svc = env.reopen({ maxBackupBytes: 150 });
    writeFileSync(join(env.workspace, 'a.bin'), randomFile(100));
    writeFileSync(join(env.workspace, 'b.bin'), randomFile(60));
    writeFileSync(join(env.workspace, 'c.bin'), randomFile(40));
    const b = await svc.backup(SID, env.workspace, { reason: 'manual' });
    expect([b.file_count, b.total_size]).toEqual([2, 100]);
    expect(b.skipped).toEqual([
      {
        path: 'a.bin',
        reason:
          "not backed up: 100 bytes would pass the backup's byte budget of 150 bytes (--backup-max-mb); the largest files are left out first",
      },
    ]);
  });
});

describe('hostile workspaces', () => {
  it('never backs up a host file reached through a folder swapped for a symlink', async () => {
    const outside = join(env.base, 'host-secret');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'host secret');
    const { hashWorkspaceFile, SkipFile } = await import('../../src/backups/read-file.js');
    symlinkSync(outside, join(env.workspace, 'sub'));
    const dirs = new DirCache(Dir.openPath(env.workspace));
    await expect(hashWorkspaceFile(dirs, 'sub/secret.txt', Buffer.alloc(64))).rejects.toThrow(
      new SkipFile('a folder on its path is no longer a folder'),
    );
    dirs.root.close();
    const b = await env.service.backup(SID, env.workspace, { reason: 'manual' });
    expect(b.file_count).toBe(0);
    expect(b.skipped).toEqual([{ path: 'sub', reason: `symlink points outside the workspace (${outside})` }]);
  });
});
