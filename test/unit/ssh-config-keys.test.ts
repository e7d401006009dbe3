// An IdentityFile as an ssh:// engine reads it: a key without passphrase is used, an encrypted one is never unlocked
// but still known by its public key (so an agent holding it is recognised), and a missing or foreign file is named.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readKeyFile } from '../../src/sandbox/docker/ssh-identities.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-ssh-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, passphrase: string, type = 'ed25519'): Buffer {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-f', join(dir, name)]);
  return Buffer.from(readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ')[1]!, 'base64');
}

it('a key without passphrase is read with its public key', () => {
  const pub = keygen('plain', '');
  const k = readKeyFile(join(dir, 'plain'));
  expect(k.unusable).toBeUndefined();
  expect(k.key?.isPrivateKey()).toBe(true);
  expect(k.publicBlob?.equals(pub)).toBe(true);
});

it('an encrypted key is not usable by itself, and its public key comes from its clear header', () => {
  const pub = keygen('locked', 'secret phrase');
  rmSync(join(dir, 'locked.pub')); // the header alone tells which key it is
  const k = readKeyFile(join(dir, 'locked'));
  expect(k.key).toBeUndefined();
  expect(k.encrypted).toBe(true);
  expect(k.unusable).toMatch(/encrypted/);
  expect(k.publicBlob?.equals(pub)).toBe(true);
});

it('an encrypted PEM key (no public key inside) is known by the .pub beside it', () => {
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'rsa',
    '-b',
    '2048',
    '-m',
    'PEM',
    '-N',
    'pem secret',
    '-f',
    join(dir, 'pem'),
  ]);
  const pub = Buffer.from(readFileSync(join(dir, 'pem.pub'), 'utf8').split(' ')[1]!, 'base64');
  const k = readKeyFile(join(dir, 'pem'));
  expect(k.encrypted).toBe(true);
  expect(k.publicBlob?.equals(pub)).toBe(true);
});

it('a missing file and a file that is no key are named as such', () => {
  expect(readKeyFile(join(dir, 'absent')).unusable).toBe('no such file');
  writeFileSync(join(dir, 'junk'), 'not a key\n');
  const junk = readKeyFile(join(dir, 'junk'));
  expect(junk.key).toBeUndefined();
  expect(junk.encrypted).toBeUndefined();
  expect(junk.unusable).toMatch(/^not a private key/);
});

it('a FIFO as IdentityFile is not read (it would block the server)', () => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  expect(readKeyFile(join(dir, 'fifo')).unusable).toBe('not a regular file');
});
