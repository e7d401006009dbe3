// The host key check of an ssh:// Docker engine, with OpenSSH's known_hosts semantics: the user's and the system's
// files (or ssh_config's), `[host]:port` names, hashed names, wildcard and negated patterns, `@revoked` keys.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The files OpenSSH reads by default (UserKnownHostsFile, GlobalKnownHostsFile), in its order. */
export function knownHostsFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return [
    join(home, '.ssh', 'known_hosts'),
    join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2',
  ];
}

interface KnownKey {
  revoked: boolean;
  type: string;
  blob: Buffer;
  where: string;
}

/** The name a host is filed under: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, kind, salt, hash] = entry.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return mac === hash;
}

/** OpenSSH's match_hostname: some pattern matches and no negated one does. */
function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let positive = false;
  for (const raw of patterns.toLowerCase().split(',')) {
    const negated = raw.startsWith('!');
    if (!globMatch(negated ? raw.slice(1) : raw, name)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function keysFor(name: string, files: string[]): KnownKey[] {
  const keys: KnownKey[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    text.split('\n').forEach((line, i) => {
      const fields = line.trim().split(/\s+/);
      if (!fields[0] || fields[0].startsWith('#')) return;
      const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
      if (marker === '@cert-authority') return; // host certificates are not offered by this client
      const [patterns, type, key] = fields;
      if (!patterns || !type || !key || !hostMatches(patterns, name)) return;
      keys.push({
        revoked: marker === '@revoked',
        type,
        blob: Buffer.from(key, 'base64'),
        where: `${file}:${i + 1}`,
      });
    });
  }
  return keys;
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function blobType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return n > 0 && n <= 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : '?';
}

/** ssh2's names for the signature algorithms of a known_hosts key type. */
const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

export interface HostKeyCheck {
  /** ssh2's hostVerifier: true only for a key the files hold for this host and do not revoke. */
  verify: (key: Buffer) => boolean;
  /** Why the last key was refused, for the error the client sees. */
  problem: () => string | null;
  /** The host key algorithms to ask for, those of the keys on file (as OpenSSH prefers them); null: any. */
  algorithms: string[] | null;
}

/** `name`: the name the key is filed under when it is not `host`'s own (ssh_config's HostKeyAlias). */
export function hostKeyCheck(
  host: string,
  port: number,
  files: string[] = knownHostsFiles(),
  name: string = knownHostsName(host, port),
): HostKeyCheck {
  const shown = files.length
    ? files.join(', ')
    : 'no file (UserKnownHostsFile and GlobalKnownHostsFile are none)';
  let problem: string | null = null;
  const onFile = keysFor(name, files);
  const algorithms = [...new Set(onFile.filter((k) => !k.revoked).flatMap((k) => ALGORITHMS[k.type] ?? []))];
  return {
    algorithms: algorithms.length ? algorithms : null,
    problem: () => problem,
    // the keys read once, above: the algorithms asked for and the key accepted come from the same reading
    verify: (key) => {
      const known = onFile;
      const offered = `${blobType(key)} ${fingerprint(key)}`;
      const revoked = known.find((k) => k.revoked && k.blob.equals(key));
      const match = known.find((k) => !k.revoked && k.blob.equals(key));
      if (revoked) problem = `the host key of ${name} (${offered}) is revoked in ${revoked.where}`;
      else if (match) problem = null;
      else if (known.some((k) => !k.revoked))
        problem =
          `the host key of ${name} (${offered}) is not the one known for it in ` +
          `${known.find((k) => !k.revoked)!.where}: it changed, or another machine answers (possible man-in-the-middle)`;
      else
        problem =
          `the host key of ${name} (${offered}) is not known: no line for ${name} in ${shown}; ` +
          `check the fingerprint, then add the key (ssh-keyscan, or one ssh to the host)`;
      return problem === null;
    },
  };
}
