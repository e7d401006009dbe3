// Session ids: unguessable (128 random bits), URL- and path-safe, recognisable by their prefix.
import { randomBytes } from 'node:crypto';

const ID_RE = /^s_[A-Za-z0-9_-]{22}$/;

export function newSessionId(): string {
  return 's_' + randomBytes(16).toString('base64url');
}

export function isSessionId(value: string): boolean {
  return ID_RE.test(value);
}
