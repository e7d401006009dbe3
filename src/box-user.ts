// The host identity boxes run as: the server's own uid when it is unprivileged, a dedicated unprivileged uid when it is root.
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { invalidArgument } from './errors.js';

/** The name looked up in /etc/passwd when the server runs as root and no uid was configured. */
export const BOX_USER_NAME = 'sandbox-mcp';
/** Fallback when that user does not exist: Debian's "allocated on demand" range 60000-64999 is rarely used. */
export const DEFAULT_BOX_UID = 64_100;

export interface BoxOwner {
  uid: number;
  gid: number;
  /** How the identity was chosen, for doctor and the start-up log. */
  source: 'server' | 'configured' | 'passwd' | 'default';
}

let configured: { uid: number; gid: number } | null | undefined;
let cached: BoxOwner | undefined;

/** Parses `UID[:GID]` (flag --box-uid, SANDBOX_MCP_BOX_UID). */
export function parseBoxUid(text: string): { uid: number; gid: number } {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text.trim());
  const uid = m ? Number(m[1]) : NaN;
  const gid = m?.[2] !== undefined ? Number(m[2]) : uid;
  const bad = (n: number) => !Number.isSafeInteger(n) || n <= 0 || n >= 4_294_967_295;
  if (!m || bad(uid) || bad(gid) || uid === 65_534) {
    throw invalidArgument(
      `box uid must be UID or UID:GID, neither 0 nor nobody (65534): ${JSON.stringify(text)}`,
      { box_uid: text },
    );
  }
  return { uid, gid };
}

/** Sets the configured identity (from the server's settings); only meaningful when the server runs as root. */
export function configureBoxUid(value: string | undefined): void {
  configured = value ? parseBoxUid(value) : null;
  cached = undefined;
}

function passwdEntry(name: string, passwd = '/etc/passwd'): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync(passwd, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) {
        const uid = Number(f[2]);
        const gid = Number(f[3]);
        if (Number.isSafeInteger(uid) && uid > 0 && Number.isSafeInteger(gid) && gid > 0) return { uid, gid };
      }
    }
  } catch {
    // no readable passwd: the default identity
  }
  return null;
}

/** Whether boxes must change identity before starting (the server is root). */
export function serverIsRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The host uid/gid that owns a box's processes and its workspace. A root server never lets a box keep uid 0: its
 * user namespace would map the box user onto host root, and every global /proc/sys entry would be writable.
 */
export function boxOwner(): BoxOwner {
  if (cached) return cached;
  if (!serverIsRoot()) {
    cached = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, source: 'server' };
  } else if (configured === undefined && process.env.SANDBOX_MCP_BOX_UID) {
    cached = { ...parseBoxUid(process.env.SANDBOX_MCP_BOX_UID), source: 'configured' };
  } else if (configured) {
    cached = { ...configured, source: 'configured' };
  } else {
    const named = passwdEntry(BOX_USER_NAME);
    cached = named
      ? { ...named, source: 'passwd' }
      : { uid: DEFAULT_BOX_UID, gid: DEFAULT_BOX_UID, source: 'default' };
  }
  return cached;
}

/** The identity to hand to files the server creates inside a workspace; null when it is the server's own. */
export function workspaceChownTarget(): { uid: number; gid: number } | null {
  if (!serverIsRoot()) return null;
  const o = boxOwner();
  return { uid: o.uid, gid: o.gid };
}

/** A root server's private runtime folder (staging mount points): root-owned, writable by nobody else. */
export function runtimeDir(): string {
  const dir = '/run/sandbox-mcp';
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} must be a folder owned by root and writable only by it`);
  }
  return dir;
}
