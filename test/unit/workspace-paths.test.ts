// Unit tests for workspace path containment on real folders: traversal, absolute paths, NUL bytes and symlinks out are refused; never writes outside its temp folder.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { resolveInWorkspace, toWorkspaceRel } from '../../src/workspace/paths.js';

let base: string;
let ws: string;
let outside: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'paths-')));
  ws = join(base, 'workspace');
  outside = join(base, 'outside');
  mkdirSync(join(ws, 'data'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(ws, 'data', 'a.csv'), 'x\n1\n');
  writeFileSync(join(outside, 'secret.txt'), 'secret');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function refusal(fn: () => unknown): SandboxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxError);
    return err as SandboxError;
  }
  throw new Error('expected a refusal');
}

describe('resolveInWorkspace', () => {
  it('returns the absolute host path of existing and not-yet-existing files', () => {
    expect(resolveInWorkspace(ws, 'data/a.csv')).toBe(join(ws, 'data', 'a.csv'));
    expect(resolveInWorkspace(ws, './data//a.csv')).toBe(join(ws, 'data', 'a.csv'));
    expect(resolveInWorkspace(ws, 'new/deep/file.txt')).toBe(join(ws, 'new', 'deep', 'file.txt'));
  });

  it.each([
    ['../x', 'parent_segment'],
    ['a/../../x', 'parent_segment'],
    ['data/..', 'parent_segment'],
    ['/etc/passwd', 'absolute'],
    ['', 'empty'],
    ['   ', 'empty'],
    ['data/a\0.csv', 'nul_byte'],
  ])('refuses %j as invalid_argument (%s) with the path and a hint', (rel, reason) => {
    const err = refusal(() => resolveInWorkspace(ws, rel));
    expect(err.code).toBe('invalid_argument');
    expect(err.details).toMatchObject({ reason });
    expect(typeof err.details?.['path']).toBe('string');
    expect(err.hint).toMatch(/relative to the workspace/);
  });

  it('refuses a symlink to a file outside the workspace', () => {
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'link.txt'));
    const err = refusal(() => resolveInWorkspace(ws, 'link.txt'));
    expect(err.code).toBe('invalid_argument');
    expect(err.details).toMatchObject({ path: 'link.txt', reason: 'escapes_workspace' });
  });

  it('refuses reading or creating files through a symlinked folder that points outside', () => {
    symlinkSync(outside, join(ws, 'out'));
    expect(refusal(() => resolveInWorkspace(ws, 'out/secret.txt')).details).toMatchObject({
      reason: 'escapes_workspace',
    });
    expect(refusal(() => resolveInWorkspace(ws, 'out/new/file.txt')).details).toMatchObject({
      reason: 'escapes_workspace',
    });
  });

  it('refuses a relative symlink that climbs out, and a dangling one', () => {
    symlinkSync('../outside/secret.txt', join(ws, 'rel-link'));
    expect(refusal(() => resolveInWorkspace(ws, 'rel-link')).details).toMatchObject({
      reason: 'escapes_workspace',
    });
    symlinkSync(join(base, 'nowhere'), join(ws, 'dangling'));
    expect(refusal(() => resolveInWorkspace(ws, 'dangling')).details).toMatchObject({
      reason: 'dangling_symlink',
    });
  });

  it('refuses a symlink loop', () => {
    symlinkSync(join(ws, 'loop-b'), join(ws, 'loop-a'));
    symlinkSync(join(ws, 'loop-a'), join(ws, 'loop-b'));
    expect(refusal(() => resolveInWorkspace(ws, 'loop-a/x')).code).toBe('invalid_argument');
  });

  it('accepts a symlink that stays inside, resolving it to the real file', () => {
    symlinkSync(join(ws, 'data'), join(ws, 'alias'));
    expect(resolveInWorkspace(ws, 'alias/a.csv')).toBe(join(ws, 'data', 'a.csv'));
  });

  it('works when the workspace path itself goes through a symlink', () => {
    symlinkSync(ws, join(base, 'ws-link'));
    expect(resolveInWorkspace(join(base, 'ws-link'), 'data/a.csv')).toBe(join(ws, 'data', 'a.csv'));
  });

  it('answers not_found for a missing file when it must exist', () => {
    const err = refusal(() => resolveInWorkspace(ws, 'data/missing.csv', { mustExist: true }));
    expect(err.code).toBe('not_found');
  });

  it('accepts a folder only when allowed', () => {
    expect(refusal(() => resolveInWorkspace(ws, 'data')).details).toMatchObject({ reason: 'is_directory' });
    expect(resolveInWorkspace(ws, 'data', { allowDir: true })).toBe(join(ws, 'data'));
    expect(resolveInWorkspace(ws, '.', { allowDir: true })).toBe(ws);
  });

  it('refuses a path that continues below a file', () => {
    expect(refusal(() => resolveInWorkspace(ws, 'data/a.csv/x')).details).toMatchObject({
      reason: 'not_a_directory',
    });
  });
});

describe('toWorkspaceRel', () => {
  it('gives the posix path relative to the workspace', () => {
    expect(toWorkspaceRel(ws, join(ws, 'data', 'a.csv'))).toBe('data/a.csv');
    symlinkSync(ws, join(base, 'ws-link'));
    expect(toWorkspaceRel(join(base, 'ws-link'), join(ws, 'data', 'a.csv'))).toBe('data/a.csv');
  });

  it('refuses a host path outside the workspace, including a sibling with the same prefix', () => {
    expect(refusal(() => toWorkspaceRel(ws, join(outside, 'secret.txt'))).code).toBe('invalid_argument');
    expect(refusal(() => toWorkspaceRel(ws, ws + '-other/x')).code).toBe('invalid_argument');
  });
});
