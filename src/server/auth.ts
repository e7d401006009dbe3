// Bearer tokens for the HTTP transport: where they come from, how they are stored and compared, the client key each maps to, and the status page's sign-ins that stand in for a token in a cookie. Never log, return in errors or compare a token in variable time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE_NAME = 'http-token';
// A token is the only thing between any local process and code execution, so short guessable ones are refused.
export const MIN_TOKEN_LENGTH = 16;

export interface LoadedTokens {
  /** Every accepted token; each is its own client (its own clientKey). */
  tokens: string[];
  /** True when this call created the stored token file. */
  generated: boolean;
  /** The token to show the user (the first given, or the stored one). */
  primary: string;
}

export type TokenCheck = { ok: true; clientKey: string } | { ok: false; reason: 'missing' | 'invalid' };

/**
 * Resolves the tokens the HTTP transport accepts. `given` is the `--token` value; when it is undefined the
 * SANDBOX_MCP_TOKEN variable is read instead. Either may list several tokens separated by commas. With
 * neither, the token stored in `<dataDir>/http-token` is used, created on first start.
 */
export function loadOrCreateToken(dataDir: string, given?: string): LoadedTokens {
  // `given` is the configured token: --token or SANDBOX_MCP_TOKEN (see config.ts).
  const explicit = parseTokenList(given ?? '');
  if (explicit.length > 0) {
    return { tokens: explicit, generated: false, primary: explicit[0] as string };
  }
  const path = join(dataDir, TOKEN_FILE_NAME);
  const existing = readStoredToken(path);
  if (existing !== undefined) return { tokens: [existing], generated: false, primary: existing };

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fresh = randomBytes(32).toString('base64url');
  if (publishTokenFile(path, fresh)) return { tokens: [fresh], generated: true, primary: fresh };
  // Another process started at the same moment and won the race: everyone must agree on its token.
  const winner = readStoredToken(path);
  if (winner === undefined) throw new Error(`token file ${path} vanished while it was being created`);
  return { tokens: [winner], generated: false, primary: winner };
}

/** Splits a comma-separated token list, dropping blanks and duplicates; throws on a token that is unusable. */
export function parseTokenList(value: string): string[] {
  const tokens = [...new Set(value.split(',').map((t) => t.trim()))].filter((t) => t.length > 0);
  tokens.forEach((t, i) => assertUsableToken(t, `token #${i + 1}`));
  return tokens;
}

/** The stable, non-secret identity of a token's owner: sessions are keyed by it, so it must not change. */
export function clientKeyForToken(token: string): string {
  return sha256(token).toString('hex').slice(0, 32);
}

/**
 * Builds the check for an `Authorization` header against the accepted tokens. Every candidate is compared
 * on every call, so the time taken says nothing about which token (or how much of one) matched.
 */
export function createTokenChecker(
  tokens: readonly string[],
): (authorization: string | undefined) => TokenCheck {
  if (tokens.length === 0) throw new Error('at least one HTTP token is required');
  const candidates = tokens.map((t) => ({ digest: sha256(t), clientKey: clientKeyForToken(t) }));
  return (authorization) => {
    const presented = bearerToken(authorization);
    if (presented === undefined) return { ok: false, reason: 'missing' };
    const digest = sha256(presented);
    let clientKey: string | undefined;
    for (const c of candidates) {
      if (timingSafeEqual(c.digest, digest) && clientKey === undefined) clientKey = c.clientKey;
    }
    return clientKey === undefined ? { ok: false, reason: 'invalid' } : { ok: true, clientKey };
  };
}

/** How long a status-page sign-in lasts: the cookie's Max-Age and the server's own limit. */
export const STATUS_SIGN_IN_TTL_MS = 12 * 60 * 60 * 1000;
// Signing in again and again only drops that client's own oldest sign-ins.
const SIGN_INS_PER_CLIENT = 64;

/**
 * Status-page sign-ins. The status cookie holds one of these random ids, never a token: an id maps to its client
 * key, is known only to this check (so it opens the status pages and never /mcp), and expires after ttlMs.
 * Ids are kept as digests, so a lookup compares no secret character by character.
 */
export class StatusSignIns {
  private readonly byDigest = new Map<string, { clientKey: string; expiresAt: number }>();

  constructor(readonly ttlMs: number = STATUS_SIGN_IN_TTL_MS) {}

  issue(clientKey: string): string {
    const now = Date.now();
    let own = 0;
    for (const [digest, s] of this.byDigest) {
      if (s.expiresAt <= now) this.byDigest.delete(digest);
      else if (s.clientKey === clientKey) own++;
    }
    for (const [digest, s] of this.byDigest) {
      if (own < SIGN_INS_PER_CLIENT) break;
      if (s.clientKey !== clientKey) continue;
      this.byDigest.delete(digest); // Map order is insertion order: the oldest first
      own--;
    }
    const id = randomBytes(32).toString('base64url');
    this.byDigest.set(sha256(id).toString('hex'), { clientKey, expiresAt: now + this.ttlMs });
    return id;
  }

  /** Checks the ids a request's cookie gives (any one valid is enough). */
  check(ids: readonly string[]): TokenCheck {
    if (ids.length === 0) return { ok: false, reason: 'missing' };
    const now = Date.now();
    for (const id of ids) {
      const digest = sha256(id).toString('hex');
      const s = this.byDigest.get(digest);
      if (s !== undefined && s.expiresAt > now) return { ok: true, clientKey: s.clientKey };
      if (s !== undefined) this.byDigest.delete(digest);
    }
    return { ok: false, reason: 'invalid' };
  }
}

/** The token of a `Bearer` Authorization header, or undefined when there is none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m?.[1];
}

/** A ready-to-paste MCP client configuration for this server over Streamable HTTP. */
export function clientConfigSnippet(url: string, token: string): string {
  const config = {
    mcpServers: {
      'sandbox-mcp': {
        type: 'http',
        url,
        headers: { Authorization: `Bearer ${token}` },
      },
    },
  };
  return JSON.stringify(config, null, 2);
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function assertUsableToken(token: string, label: string): void {
  // Visible ASCII only: anything else cannot travel in an HTTP header unchanged.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new Error(`${label} contains characters that cannot be sent in an HTTP header`);
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`${label} is shorter than ${MIN_TOKEN_LENGTH} characters`);
  }
}

function readStoredToken(path: string): string | undefined {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  // A symlink or device here could point the server at a secret it does not own.
  if (!stat.isFile()) throw new Error(`${path} exists but is not a regular file`);
  if ((stat.mode & 0o077) !== 0) chmodSync(path, 0o600);
  const token = readFileSync(path, 'utf8').trim();
  assertUsableToken(token, `the token in ${path}`);
  return token;
}

/** Writes the token file so it appears complete or not at all; false when another process created it first. */
function publishTokenFile(path: string, token: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    // link() refuses to replace an existing file, unlike rename(), so a concurrent first start cannot
    // silently swap the token under a process that already printed its own.
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
