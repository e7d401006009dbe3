// Unit tests counting the artifact code's realpath and lstat calls on the workspace, so resolved paths and stats are reused rather than taken again; never writes outside its temp folder.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArtifactService } from '../../src/artifacts/service.js';
import type { SessionScope } from '../../src/artifacts/types.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, realpath: vi.fn(real.realpath), lstat: vi.fn(real.lstat) };
});

let base: string;
let scope: SessionScope;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'artifacts-calls-')));
  scope = { sessionId: 's_calls', workspace: join(base, 'ws') };
  mkdirSync(scope.workspace);
  for (let i = 0; i < 3; i++) writeFileSync(join(scope.workspace, `f${i}.txt`), `file ${i}`);
  vi.mocked(realpath).mockClear();
  vi.mocked(lstat).mockClear();
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const realpaths = () => vi.mocked(realpath).mock.calls.filter(([p]) => p === scope.workspace).length;

describe('system calls', () => {
  it('resolves the workspace once per session for the tracker, plus the service’s existence check', async () => {
    const svc = new ArtifactService();
    await svc.list(scope);
    expect(realpaths()).toBe(2);
    await svc.list(scope);
    await svc.report(scope);
    await svc.writeFile(scope, 'new.txt', { text: 'x' });
    expect(realpaths()).toBe(5);
  });

  it('stats a written file once after writing it', async () => {
    const svc = new ArtifactService();
    await svc.list(scope);
    vi.mocked(lstat).mockClear();
    await svc.writeFile(scope, 'new.txt', { text: 'x' });
    const target = join(realpathSync(scope.workspace), 'new.txt');
    // One look before writing (does it exist, with which mode), one for the tracker's baseline.
    expect(vi.mocked(lstat).mock.calls.filter(([p]) => p === target)).toHaveLength(2);
  });
});
