// Unit tests for the artifacts service on real folders: listing, reports, cleanup, reading and writing files; never writes outside its temp folder.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { defaultFileIO, type FileIO } from '../../src/workspace/file-io.js';
import { ArtifactService } from '../../src/artifacts/service.js';
import type { SessionScope } from '../../src/artifacts/types.js';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC',
  'base64',
);

let base: string;
let scope: SessionScope;
let svc: ArtifactService;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'artifacts-svc-')));
  scope = { sessionId: 's_test', workspace: join(base, 'ws') };
  mkdirSync(scope.workspace);
  svc = new ArtifactService({ maxWriteBytes: 1024 * 1024 });
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function put(rel: string, content: string | Buffer, mtime?: Date): void {
  const abs = join(scope.workspace, rel);
  mkdirSync(join(abs, '..'), { recursive: true });
  writeFileSync(abs, content);
  if (mtime) utimesSync(abs, mtime, mtime);
}

async function rejection(p: Promise<unknown>): Promise<SandboxError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxError);
    return err as SandboxError;
  }
  throw new Error('expected a rejection');
}

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

/** Records every read, as "head:path" or "hash:path", so a test can count how often each file is read. */
function countingIO(): FileIO & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    hash: (abs, root) => {
      reads.push(`hash:${abs.slice(root.length + 1)}`);
      return defaultFileIO.hash(abs, root);
    },
    head: (abs, root, bytes) => {
      reads.push(`head:${abs.slice(root.length + 1)}`);
      return defaultFileIO.head(abs, root, bytes);
    },
  };
}

function populate(): void {
  put('plots/fig1.png', PNG, new Date('2025-01-01T00:00:01Z'));
  put('plots/fig2.png', PNG, new Date('2025-01-01T00:00:02Z'));
  put('plots/values.csv', 'a\n1\n', new Date('2025-01-01T00:00:03Z'));
  put('images/photo.png', PNG, new Date('2025-01-01T00:00:04Z'));
  put('data/big.csv', 'x\n'.repeat(5000), new Date('2025-01-01T00:00:05Z'));
  put('data/sub/small.csv', 'y\n', new Date('2025-01-01T00:00:06Z'));
  put('analysis.py', 'print(1)\n', new Date('2025-01-01T00:00:07Z'));
  put('.venv/lib/x.py', 'ignored');
}

describe('list', () => {
  it('lists every artifact sorted by path, with totals', async () => {
    populate();
    const r = await svc.list(scope);
    expect(r.artifacts.map((a) => a.path)).toEqual([
      'analysis.py',
      'data/big.csv',
      'data/sub/small.csv',
      'images/photo.png',
      'plots/fig1.png',
      'plots/fig2.png',
      'plots/values.csv',
    ]);
    expect(r.total_count).toBe(7);
    expect(r.total_bytes).toBe(r.artifacts.reduce((n, a) => n + a.size, 0));
    const fig = r.artifacts.find((a) => a.path === 'plots/fig1.png')!;
    expect(fig).toEqual({
      path: 'plots/fig1.png',
      category: 'plots',
      mime: 'image/png',
      size: PNG.length,
      sha256: sha(PNG),
      mtime: '2025-01-01T00:00:01.000Z',
      uri: 'sandbox://sessions/s_test/files/plots/fig1.png',
    });
  });

  it('filters by category, glob (file name at any depth, or a path pattern) and modification time', async () => {
    populate();
    const paths = async (f: Parameters<ArtifactService['list']>[1]) =>
      (await svc.list(scope, f)).artifacts.map((a) => a.path);
    expect(await paths({ category: 'data' })).toEqual([
      'data/big.csv',
      'data/sub/small.csv',
      'plots/values.csv',
    ]);
    expect(await paths({ glob: '*.csv' })).toEqual([
      'data/big.csv',
      'data/sub/small.csv',
      'plots/values.csv',
    ]);
    expect(await paths({ glob: 'data/*.csv' })).toEqual(['data/big.csv']);
    expect(await paths({ glob: 'data/**' })).toEqual(['data/big.csv', 'data/sub/small.csv']);
    expect(await paths({ newerThan: '2025-01-01T00:00:05Z' })).toEqual(['analysis.py', 'data/sub/small.csv']);
    expect(await paths({ category: 'images', glob: '*.png' })).toEqual(['images/photo.png']);
  });

  it('reads each file once, whole, when listing without a category', async () => {
    populate();
    const io = countingIO();
    const r = await new ArtifactService({ io }).list(scope);
    expect(r.artifacts.every((a) => a.sha256 !== null)).toBe(true);
    expect(io.reads.sort()).toEqual(r.artifacts.map((a) => `hash:${a.path}`).sort());
  });

  it('with a category, hashes only the files of that category', async () => {
    populate();
    const io = countingIO();
    const r = await new ArtifactService({ io }).list(scope, { category: 'data' });
    expect(r.artifacts.map((a) => a.sha256)).toEqual([sha('x\n'.repeat(5000)), sha('y\n'), sha('a\n1\n')]);
    expect(io.reads.filter((x) => x.startsWith('head:'))).toHaveLength(7);
    expect(io.reads.filter((x) => x.startsWith('hash:')).sort()).toEqual([
      'hash:data/big.csv',
      'hash:data/sub/small.csv',
      'hash:plots/values.csv',
    ]);
  });

  it('refuses an unknown category or a bad date, and a missing workspace', async () => {
    const bad = await rejection(svc.list(scope, { category: 'pictures' as never }));
    expect(bad.code).toBe('invalid_argument');
    expect(bad.hint).toContain('plots');
    expect((await rejection(svc.list(scope, { newerThan: 'yesterday' }))).code).toBe('invalid_argument');
    const gone = { sessionId: 's_gone', workspace: join(base, 'nope') };
    expect((await rejection(svc.list(gone))).code).toBe('not_found');
  });
});

describe('report and categorize', () => {
  it('gives totals, per-category counts and sizes, the most recent and the largest files', async () => {
    populate();
    const r = await svc.report(scope);
    expect(r.total_count).toBe(7);
    expect(r.by_category.plots).toEqual({ count: 2, bytes: 2 * PNG.length });
    expect(r.by_category.images).toEqual({ count: 1, bytes: PNG.length });
    expect(r.by_category.data).toEqual({ count: 3, bytes: 10000 + 2 + 4 });
    expect(r.by_category.code).toEqual({ count: 1, bytes: 9 });
    expect(r.by_category.videos).toEqual({ count: 0, bytes: 0 });
    expect(r.total_bytes).toBe(Object.values(r.by_category).reduce((n, c) => n + c.bytes, 0));
    expect(r.most_recent.map((a) => a.path).slice(0, 3)).toEqual([
      'analysis.py',
      'data/sub/small.csv',
      'data/big.csv',
    ]);
    expect(r.largest[0]).toMatchObject({
      path: 'data/big.csv',
      size: 10000,
      sha256: sha('x\n'.repeat(5000)),
    });
    expect(r.most_recent).toHaveLength(7);
  });

  it('keeps only ten in each list', async () => {
    for (let i = 0; i < 15; i++) put(`f${String(i).padStart(2, '0')}.txt`, 'x'.repeat(i + 1));
    const r = await svc.report(scope);
    expect(r.largest).toHaveLength(10);
    expect(r.largest[0]!.path).toBe('f14.txt');
    expect(r.most_recent).toHaveLength(10);
  });

  it('groups paths by category', async () => {
    populate();
    const c = await svc.categorize(scope);
    expect(c.total_count).toBe(7);
    expect(c.categories).toEqual({
      code: ['analysis.py'],
      data: ['data/big.csv', 'data/sub/small.csv', 'plots/values.csv'],
      images: ['images/photo.png'],
      plots: ['plots/fig1.png', 'plots/fig2.png'],
    });
  });
});

describe('cleanup', () => {
  it("cleanupByType('plots') removes only images under plots/, after the backup hook ran", async () => {
    populate();
    const seen: boolean[] = [];
    const r = await svc.cleanupByType(scope, 'plots', {
      beforeCleanup: async () => {
        seen.push(existsSync(join(scope.workspace, 'plots/fig1.png')));
      },
    });
    expect(seen).toEqual([true]);
    expect(r).toEqual({
      scope: 'plots',
      removed: [
        { path: 'plots/fig1.png', category: 'plots', size: PNG.length },
        { path: 'plots/fig2.png', category: 'plots', size: PNG.length },
      ],
      removed_count: 2,
      removed_bytes: 2 * PNG.length,
      failed: [],
    });
    expect(readdirSync(join(scope.workspace, 'plots'))).toEqual(['values.csv']);
    expect(existsSync(join(scope.workspace, 'images/photo.png'))).toBe(true);
  });

  it('does not call the hook when nothing matches', async () => {
    put('a.py', 'x');
    let called = 0;
    const r = await svc.cleanupByType(scope, 'videos', { beforeCleanup: async () => void called++ });
    expect(called).toBe(0);
    expect(r.removed_count).toBe(0);
  });

  it('does not remove anything when the hook fails', async () => {
    populate();
    const err = new Error('backup failed');
    await expect(svc.cleanupAll(scope, { beforeCleanup: () => Promise.reject(err) })).rejects.toBe(err);
    expect((await svc.list(scope)).total_count).toBe(7);
  });

  it('cleanupAll removes every artifact but leaves excluded folders alone', async () => {
    populate();
    const r = await svc.cleanupAll(scope);
    expect(r.removed_count).toBe(7);
    expect((await svc.list(scope)).total_count).toBe(0);
    expect(readFileSync(join(scope.workspace, '.venv/lib/x.py'), 'utf8')).toBe('ignored');
  });

  it('tells the session tracker, so the next call does not report the removals as its own', async () => {
    populate();
    const t = svc.tracker(scope);
    await t.begin();
    await t.end();
    await svc.cleanupByType(scope, 'plots');
    await t.begin();
    expect(await t.end()).toEqual({ created: [], changed: [], deleted: [] });
  });
});

describe('writeFile', () => {
  it('writes text, creating folders, and returns the artifact', async () => {
    const r = await svc.writeFile(scope, 'inputs/params.json', { text: '{"a": 1}\n' });
    expect(r.created).toBe(true);
    expect(r.artifact).toMatchObject({
      path: 'inputs/params.json',
      category: 'data',
      mime: 'application/json',
      size: 9,
      sha256: sha('{"a": 1}\n'),
      uri: 'sandbox://sessions/s_test/files/inputs/params.json',
    });
    expect(readFileSync(join(scope.workspace, 'inputs/params.json'), 'utf8')).toBe('{"a": 1}\n');
    expect(r.artifact.mtime).toBe(statSync(join(scope.workspace, 'inputs/params.json')).mtime.toISOString());
  });

  it('gives the modification time of a file written where changes are not tracked', async () => {
    const r = await svc.writeFile(scope, '.cache/notes.txt', { text: 'x' });
    expect(r.artifact.mtime).toBe(statSync(join(scope.workspace, '.cache/notes.txt')).mtime.toISOString());
  });

  it('writes base64 content, sniffing its type, and leaves no temp file behind', async () => {
    const r = await svc.writeFile(scope, 'upload.dat', { base64: PNG.toString('base64') });
    expect(r.artifact).toMatchObject({ category: 'images', mime: 'image/png', size: PNG.length });
    expect(readFileSync(join(scope.workspace, 'upload.dat'))).toEqual(PNG);
    expect(readdirSync(scope.workspace)).toEqual(['upload.dat']);
  });

  it('replaces an existing file atomically, keeping its permissions', async () => {
    put('run.sh', '#!/bin/sh\necho old\n');
    chmodSync(join(scope.workspace, 'run.sh'), 0o755);
    const r = await svc.writeFile(scope, 'run.sh', { text: '#!/bin/sh\necho new\n' });
    expect(r.created).toBe(false);
    expect(statSync(join(scope.workspace, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(scope.workspace, 'run.sh'), 'utf8')).toContain('new');
  });

  it('refuses traversal, symlinked folders out, the state folder, folders, bad base64 and oversized content', async () => {
    mkdirSync(join(base, 'outside'));
    symlinkSync(join(base, 'outside'), join(scope.workspace, 'out'));
    for (const p of ['../x.txt', '/tmp/x.txt', 'a/../../x.txt', 'out/x.txt', 'bad\0name']) {
      expect((await rejection(svc.writeFile(scope, p, { text: 'x' }))).code).toBe('invalid_argument');
    }
    expect(readdirSync(join(base, 'outside'))).toEqual([]);
    expect(
      (await rejection(svc.writeFile(scope, '.sandbox/state/x.json', { text: '{}' }))).details,
    ).toMatchObject({
      reason: 'protected',
    });
    mkdirSync(join(scope.workspace, '.sandbox/state'), { recursive: true });
    symlinkSync(join(scope.workspace, '.sandbox'), join(scope.workspace, 'alias'));
    expect(
      (await rejection(svc.writeFile(scope, 'alias/state/x.json', { text: '{}' }))).details,
    ).toMatchObject({
      reason: 'protected',
    });
    mkdirSync(join(scope.workspace, 'dir'));
    expect((await rejection(svc.writeFile(scope, 'dir', { text: 'x' }))).code).toBe('invalid_argument');
    expect((await rejection(svc.writeFile(scope, 'b.bin', { base64: 'not base64!' }))).code).toBe(
      'invalid_argument',
    );
    const big = await rejection(svc.writeFile(scope, 'big.txt', { text: 'x'.repeat(1024 * 1024 + 1) }));
    expect(big.details).toMatchObject({ bytes: 1024 * 1024 + 1, limit: 1024 * 1024 });
    expect(existsSync(join(scope.workspace, 'big.txt'))).toBe(false);
  });

  it('is not reported as the next call’s artifact', async () => {
    const t = svc.tracker(scope);
    await t.begin();
    await t.end();
    await svc.writeFile(scope, 'data/in.csv', { text: 'a\n1\n' });
    await t.begin();
    expect(await t.end()).toEqual({ created: [], changed: [], deleted: [] });
  });
});

describe('readFile', () => {
  it('returns UTF-8 text as text, with its type and size', async () => {
    put('notes/readme.md', '# Título\n');
    const r = await svc.readFile(scope, 'notes/readme.md');
    expect(r).toEqual({
      path: 'notes/readme.md',
      uri: 'sandbox://sessions/s_test/files/notes/readme.md',
      mime: 'text/markdown',
      category: 'documents',
      size: Buffer.byteLength('# Título\n'),
      offset: 0,
      length: Buffer.byteLength('# Título\n'),
      next_offset: null,
      truncated: false,
      encoding: 'utf8',
      text: '# Título\n',
    });
  });

  it('returns binary content as base64', async () => {
    put('img.dat', PNG);
    const r = await svc.readFile(scope, 'img.dat');
    expect(r).toMatchObject({
      encoding: 'base64',
      base64: PNG.toString('base64'),
      mime: 'image/png',
      truncated: false,
    });
  });

  it('truncates at maxBytes without breaking a UTF-8 character into base64', async () => {
    put('long.txt', 'é'.repeat(100));
    const r = await svc.readFile(scope, 'long.txt', { maxBytes: 11 });
    expect(r).toMatchObject({ encoding: 'utf8', text: 'ééééé', truncated: true, size: 200 });
  });

  it('refuses missing files, folders, bad limits, FIFOs and symlinks out', async () => {
    expect((await rejection(svc.readFile(scope, 'missing.txt'))).code).toBe('not_found');
    mkdirSync(join(scope.workspace, 'd'));
    expect((await rejection(svc.readFile(scope, 'd'))).code).toBe('invalid_argument');
    put('a.txt', 'a');
    expect((await rejection(svc.readFile(scope, 'a.txt', { maxBytes: 0 }))).code).toBe('invalid_argument');
    expect((await rejection(svc.readFile(scope, 'a.txt', { maxBytes: 1e9 }))).code).toBe('invalid_argument');
    execFileSync('mkfifo', [join(scope.workspace, 'fifo')]);
    expect((await rejection(svc.readFile(scope, 'fifo'))).details).toMatchObject({ reason: 'not_regular' });
    symlinkSync('/etc/hostname', join(scope.workspace, 'host'));
    expect((await rejection(svc.readFile(scope, 'host'))).details).toMatchObject({
      reason: 'escapes_workspace',
    });
  });
});
