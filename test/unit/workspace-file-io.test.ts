// Unit tests for host-side file access: a file reached through a symlinked folder, a FIFO or a failed write is refused or cleaned up; never writes outside its temp folder.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultFileIO, openRegular, UnsafeFileError, writeAtomic } from '../../src/workspace/file-io.js';

let base: string;
let ws: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'file-io-')));
  ws = join(base, 'ws');
  mkdirSync(ws);
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'secret.txt'), 'secret');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('openRegular', () => {
  it('refuses a file reached through a folder symlinked out of the workspace, after opening it', async () => {
    symlinkSync(join(base, 'outside'), join(ws, 'out'));
    const err = await openRegular(join(ws, 'out', 'secret.txt'), ws).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeFileError);
    expect((err as UnsafeFileError).reason).toBe('outside_workspace');
  });

  it('refuses a final symlink and a FIFO without blocking', async () => {
    symlinkSync(join(base, 'outside', 'secret.txt'), join(ws, 'link'));
    expect(await openRegular(join(ws, 'link'), ws).catch((e: unknown) => (e as UnsafeFileError).reason)).toBe(
      'not_regular',
    );
    execFileSync('mkfifo', [join(ws, 'fifo')]);
    expect(await openRegular(join(ws, 'fifo'), ws).catch((e: unknown) => (e as UnsafeFileError).reason)).toBe(
      'not_regular',
    );
  });
});

describe('defaultFileIO', () => {
  it('hashes a file larger than one read chunk and keeps its head', async () => {
    const data = Buffer.alloc(600 * 1024, 7);
    data.write('%PDF-1.7', 0);
    writeFileSync(join(ws, 'doc.pdf'), data);
    const r = await defaultFileIO.hash(join(ws, 'doc.pdf'), ws);
    expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(r.size).toBe(data.length);
    expect(Buffer.from(r.head.subarray(0, 8)).toString()).toBe('%PDF-1.7');
    const h = await defaultFileIO.head(join(ws, 'doc.pdf'), ws, 16);
    expect(h.head).toHaveLength(16);
    expect(h.complete).toBe(false);
  });
});

describe('writeAtomic', () => {
  it('leaves no temp file behind when the rename fails', async () => {
    mkdirSync(join(ws, 'target'));
    writeFileSync(join(ws, 'target', 'inside'), 'x');
    await expect(writeAtomic(join(ws, 'target'), ws, Buffer.from('data'))).rejects.toThrow();
    expect(readdirSync(ws)).toEqual(['target']);
  });

  it('refuses a target folder that resolves outside the workspace', async () => {
    symlinkSync(join(base, 'outside'), join(ws, 'out'));
    await expect(writeAtomic(join(ws, 'out', 'x.txt'), ws, Buffer.from('data'))).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(readdirSync(join(base, 'outside'))).toEqual(['secret.txt']);
  });

  it('creates missing folders one at a time, never under a link out of the workspace', async () => {
    symlinkSync(join(base, 'outside'), join(ws, 'out'));
    await expect(
      writeAtomic(join(ws, 'out', 'new', 'deeper', 'x.txt'), ws, Buffer.from('data')),
    ).rejects.toMatchObject({ code: 'invalid_argument', details: { reason: 'escapes_workspace' } });
    expect(readdirSync(join(base, 'outside'))).toEqual(['secret.txt']);
    await writeAtomic(join(ws, 'a', 'b', 'c.txt'), ws, Buffer.from('ok'));
    expect(readFileSync(join(ws, 'a', 'b', 'c.txt'), 'utf8')).toBe('ok');
    writeFileSync(join(ws, 'plain'), 'file');
    await expect(writeAtomic(join(ws, 'plain', 'x.txt'), ws, Buffer.from('no'))).rejects.toMatchObject({
      details: { reason: 'not_a_directory' },
    });
  });
});
