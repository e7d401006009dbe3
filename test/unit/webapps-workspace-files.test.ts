// Unit tests for web-app workspace files on real folders: app code is written inside the workspace, and a symlink
// planted by box code never leads a write or a folder out of it. Never writes outside its temp folder.
import {
  existsSync,
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
import { SandboxError } from '../../src/errors.js';
import { workspaceFolder, writeAppFile } from '../../src/webapps/workspace-files.js';

let base: string;
let ws: string;
let outside: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'webapp-files-')));
  ws = join(base, 'workspace');
  outside = join(base, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
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

async function refusedAsync(p: Promise<unknown>): Promise<SandboxError> {
  const err = await p.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SandboxError);
  return err as SandboxError;
}

describe('writeAppFile', () => {
  it('writes the code under apps/<id>/ and returns the workspace path', async () => {
    expect(await writeAppFile(ws, 'app-1', 'app.py', 'print(1)\n')).toBe('apps/app-1/app.py');
    expect(readFileSync(join(ws, 'apps', 'app-1', 'app.py'), 'utf8')).toBe('print(1)\n');
    expect(readdirSync(join(ws, 'apps', 'app-1'))).toEqual(['app.py']);
  });

  it('refuses when apps is a symlink to a folder outside the workspace, writing nothing there', async () => {
    symlinkSync(outside, join(ws, 'apps'));
    const err = await refusedAsync(writeAppFile(ws, 'app-1', 'app.py', 'x'));
    expect(err.code).toBe('invalid_argument');
    expect(err.details).toMatchObject({ reason: 'escapes_workspace' });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses when apps/<id> is a symlink out of the workspace', async () => {
    mkdirSync(join(ws, 'apps'));
    symlinkSync(outside, join(ws, 'apps', 'app-1'));
    const err = await refusedAsync(writeAppFile(ws, 'app-1', 'app.py', 'x'));
    expect(err.details).toMatchObject({ reason: 'escapes_workspace' });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('never writes through a symlink at the file name', async () => {
    mkdirSync(join(ws, 'apps', 'app-1'), { recursive: true });
    // A dangling link is refused; its target is never created.
    symlinkSync(join(outside, 'target.py'), join(ws, 'apps', 'app-1', 'app.py'));
    expect((await refusedAsync(writeAppFile(ws, 'app-1', 'app.py', 'x'))).code).toBe('invalid_argument');
    expect(existsSync(join(outside, 'target.py'))).toBe(false);
    // A link to an existing file outside is refused, and that file is left as it was.
    rmSync(join(ws, 'apps', 'app-1', 'app.py'));
    writeFileSync(join(outside, 'target.py'), 'kept');
    symlinkSync(join(outside, 'target.py'), join(ws, 'apps', 'app-1', 'app.py'));
    expect((await refusedAsync(writeAppFile(ws, 'app-1', 'app.py', 'x'))).details).toMatchObject({
      reason: 'escapes_workspace',
    });
    expect(readFileSync(join(outside, 'target.py'), 'utf8')).toBe('kept');
  });
});

describe('workspaceFolder', () => {
  it('accepts an existing folder and returns its workspace path', () => {
    mkdirSync(join(ws, 'site', 'public'), { recursive: true });
    expect(workspaceFolder(ws, 'site')).toBe('site');
    expect(workspaceFolder(ws, './site/public/')).toBe('site/public');
  });

  it.each(['', '.', '/etc', '../outside', 'a/../..'])('refuses %j', (rel) => {
    expect(refusal(() => workspaceFolder(ws, rel)).code).toBe('invalid_argument');
  });

  it('refuses a missing folder, a file, and a symlink out of the workspace', async () => {
    expect(refusal(() => workspaceFolder(ws, 'nope')).message).toMatch(/does not exist/);
    await writeAppFile(ws, 'app-1', 'app.py', 'x');
    expect(refusal(() => workspaceFolder(ws, 'apps/app-1/app.py')).message).toMatch(/not a folder/);
    symlinkSync(outside, join(ws, 'out'));
    expect(refusal(() => workspaceFolder(ws, 'out')).details).toMatchObject({ reason: 'escapes_workspace' });
  });
});
