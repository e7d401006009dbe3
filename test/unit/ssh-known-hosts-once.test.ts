// An ssh:// engine's host key check reads known_hosts once: the key accepted is judged by the same reading that chose
// the host key algorithms, however the file changes afterwards, and no connection reads the file again.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { hostKeyCheck } from '../../src/sandbox/docker/ssh-known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-known-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ed25519Blob(): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(type.length), type, len(32), randomBytes(32)]);
}

it('verifies against the keys read when the check was made, not a later file', () => {
  const file = join(dir, 'known_hosts');
  const first = ed25519Blob();
  const second = ed25519Blob();
  writeFileSync(file, `engine.example ssh-ed25519 ${first.toString('base64')}\n`);
  const check = hostKeyCheck('engine.example', 22, [file]);
  expect(check.algorithms).toEqual(['ssh-ed25519']);
  // the file changes (or is swapped) between the choice of algorithms and a connection
  writeFileSync(file, `engine.example ssh-ed25519 ${second.toString('base64')}\n`);
  expect(check.verify(first)).toBe(true);
  expect(check.problem()).toBeNull();
  expect(check.verify(second)).toBe(false);
  expect(check.problem()).toMatch(/not the one known/);
  rmSync(file);
  expect(check.verify(first)).toBe(true);
});
