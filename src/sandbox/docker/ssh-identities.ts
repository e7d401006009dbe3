// The keys an ssh:// engine's connections offer, in OpenSSH's order: the SSH agent's (only those of the IdentityFiles
// with IdentitiesOnly), then the IdentityFiles not in the agent that need no passphrase. An encrypted key file is
// never unlocked here: it counts only when the agent holds it.
import { readFileSync, statSync } from 'node:fs';
import type { AuthHandlerMiddleware, BaseAgent, ParsedKey } from 'ssh2';
import { ssh2Module } from './ssh-dial.js';

/** A key file is a few KiB; a larger one is not read. */
const MAX_KEY_BYTES = 64 * 1024;

export interface KeyFile {
  path: string;
  /** The private key, when the file holds one that needs no passphrase. */
  key?: ParsedKey;
  /** The public key blob (from the key, the `.pub` file beside it, or an OpenSSH key's clear header). */
  publicBlob?: Buffer;
  /** Why it cannot be used by itself: missing, unreadable, encrypted, not a key. */
  unusable?: string;
  encrypted?: boolean;
}

/** The public key blobs in an `openssh-key-v1` file's clear header (there even when the private part is encrypted). */
function opensshPublicBlob(text: string): Buffer | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) return undefined;
  const data = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (data.subarray(0, magic.length).toString('latin1') !== magic) return undefined;
  let at = magic.length;
  const str = (): Buffer | undefined => {
    if (at + 4 > data.length) return undefined;
    const n = data.readUInt32BE(at);
    if (at + 4 + n > data.length) return undefined;
    const out = data.subarray(at + 4, at + 4 + n);
    at += 4 + n;
    return out;
  };
  if (!str() || !str() || !str() || at + 4 > data.length) return undefined; // cipher, kdf, kdf options
  if (data.readUInt32BE(at) < 1) return undefined;
  at += 4;
  return str();
}

function publicFromPubFile(path: string): Buffer | undefined {
  try {
    const st = statSync(`${path}.pub`);
    if (!st.isFile() || st.size > MAX_KEY_BYTES) return undefined;
    const b64 = readFileSync(`${path}.pub`, 'utf8').trim().split(/\s+/)[1];
    return b64 ? Buffer.from(b64, 'base64') : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a key file without asking for a passphrase. */
export function readKeyFile(path: string): KeyFile {
  let data: Buffer;
  try {
    // only a bounded regular file: a FIFO or a device would block the server
    const st = statSync(path);
    if (!st.isFile()) return { path, unusable: 'not a regular file' };
    if (st.size > MAX_KEY_BYTES) return { path, unusable: `larger than ${MAX_KEY_BYTES} bytes` };
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { path, unusable: code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})` };
  }
  const text = data.toString('utf8');
  const parsed = ssh2Module().utils.parseKey(data);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (key && !(key instanceof Error) && key.isPrivateKey())
    return { path, key, publicBlob: key.getPublicSSH() };
  const publicBlob = opensshPublicBlob(text) ?? publicFromPubFile(path);
  if (key instanceof Error && /passphrase/i.test(key.message))
    return { path, publicBlob, encrypted: true, unusable: 'encrypted (it needs a passphrase)' };
  return {
    path,
    publicBlob,
    unusable: `not a private key (${key instanceof Error ? key.message : 'no key'})`,
  };
}

/**
 * The agent as ssh2 uses it, offering only the keys `allowed` (IdentitiesOnly), and noting what it listed so the key
 * files it holds are not offered twice (each offer counts against the server's MaxAuthTries).
 */
function agentOf(socket: string, allowed: Buffer[] | null, listed: Buffer[], out: Identities): BaseAgent {
  const { OpenSSHAgent } = ssh2Module();
  return new (class extends OpenSSHAgent {
    override getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      super.getIdentities((err, keys) => {
        // an agent that does not answer offers nothing: the key files are tried next, and the failure names it
        out.agentError = err ? err.message : undefined;
        if (err || !keys) return cb(undefined, []);
        const parsed = keys as ParsedKey[];
        listed.push(...parsed.map((k) => k.getPublicSSH()));
        cb(
          undefined,
          allowed ? parsed.filter((k) => allowed.some((b) => b.equals(k.getPublicSSH()))) : parsed,
        );
      });
    }
  })(socket);
}

export interface Identities {
  /** A fresh ssh2 authHandler for one login: the agent first, then the key files it does not hold. */
  authHandler: () => AuthHandlerMiddleware;
  files: KeyFile[];
  /** The public keys the agent listed on the latest login (empty: none, or not asked yet). */
  agentKeys: Buffer[];
  /** Why the agent did not answer on the latest login. */
  agentError?: string | undefined;
}

export function identities(opts: {
  user: string;
  agent: string | undefined;
  files: string[];
  identitiesOnly: boolean;
}): Identities {
  const files = opts.files.map(readKeyFile);
  const allowed = opts.identitiesOnly ? files.flatMap((f) => (f.publicBlob ? [f.publicBlob] : [])) : null;
  const out: Identities = { files, agentKeys: [], authHandler: () => () => undefined };
  out.authHandler = () => {
    const listed: Buffer[] = [];
    out.agentKeys = listed;
    let agentDone = !opts.agent;
    let nextFile = 0;
    return (_left, _partial, next) => {
      if (!agentDone) {
        agentDone = true;
        return next({
          type: 'agent',
          username: opts.user,
          agent: agentOf(opts.agent!, allowed, listed, out),
        });
      }
      while (nextFile < files.length) {
        const f = files[nextFile++]!;
        if (!f.key || listed.some((b) => b.equals(f.publicBlob!))) continue;
        return next({ type: 'publickey', username: opts.user, key: f.key });
      }
      (next as unknown as (method: false) => void)(false); // no more methods (ssh2's way to say it)
    };
  };
  return out;
}
