// Unit tests for reading an app's source for export: a FIFO, a symlink or a too-large file in its place is refused
// at once with a structured error, never blocking the server. Never reads or writes outside its temp folder.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { readAppFile } from '../../src/webapps/workspace-files.js';

let base: string;
let ws: string;
const REL = 'apps/app-1/app.py';

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'webapp-read-')));
  ws = join(base, 'workspace');
  mkdirSync(join(ws, 'apps', 'app-1'), { recursive: true });
  writeFileSync(join(base, 'secret.py'), 'secret');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<SandboxError> {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SandboxError);
  return err as SandboxError;
}

describe('readAppFile', () => {
  it('reads a regular file inside the workspace', async () => {
    writeFileSync(join(ws, REL), 'print("hi")\n');
    expect(await readAppFile(ws, REL, 1024)).toBe('print("hi")\n');
  });

  it('refuses a FIFO at the path promptly instead of waiting for a writer', async () => {
    execFileSync('mkfifo', [join(ws, REL)]);
    const err = await refusal(readAppFile(ws, REL, 1024));
    expect(err.code).toBe('invalid_argument');
    expect(err.details).toMatchObject({ path: REL, reason: 'not_regular' });
  }, 2000);

  it('refuses a symlink at the path, inside or outside the workspace', async () => {
    symlinkSync(join(base, 'secret.py'), join(ws, REL));
    expect((await refusal(readAppFile(ws, REL, 1024))).details).toMatchObject({
      reason: 'escapes_workspace',
    });
  });

  it('reports a removed file as not_found and a large one as invalid_argument', async () => {
    expect((await refusal(readAppFile(ws, REL, 1024))).code).toBe('not_found');
    writeFileSync(join(ws, REL), 'x'.repeat(2048));
    expect((await refusal(readAppFile(ws, REL, 1024))).message).toMatch(/larger than/);
  });
});
