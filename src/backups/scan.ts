// Lists a workspace for a backup (folders, files, inside-pointing symlinks, minus excluded folders); never follows a symlink and never reads file contents.
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
import type { SkippedEntry } from './types.js';

/** Rebuildable caches and environments: never backed up, never removed or replaced by a rollback. */
export const EXCLUDED_NAMES: ReadonlySet<string> = new Set(['.venv', '__pycache__', '.cache']);

/** Where the box sees the workspace; absolute link targets under it point inside. */
export const BOX_WORKSPACE = '/workspace';

export interface ScanEntry {
  rel: string;
  abs: string;
  kind: 'file' | 'dir' | 'symlink';
  /** Permission bits only: setuid, setgid and sticky are never carried (a restored setuid file would run as the server's user). */
  mode: number;
  size: number;
  mtimeMs: number;
  /** inode:size:mtimeNs:ctimeNs, compared with a previous manifest to skip re-reading unchanged files. */
  statKey: string;
  target: string | null;
}

export interface ScanResult {
  entries: ScanEntry[];
  skipped: SkippedEntry[];
  /** Relative paths of excluded entries found below the top level (a rollback carries them across). */
  nestedExcluded: string[];
}

export function statKeyOf(st: BigIntStats): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** True when a symlink at rel with this target resolves inside the workspace (lexically; it is never followed). */
export function linkPointsInside(rel: string, target: string, hostWorkspace: string): boolean {
  if (target.length === 0) return false;
  if (posix.isAbsolute(target)) {
    const t = posix.normalize(target);
    for (const base of [BOX_WORKSPACE, hostWorkspace]) {
      if (t === base || t.startsWith(base.endsWith('/') ? base : `${base}/`)) return true;
    }
    return false;
  }
  const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

function decodeName(raw: Buffer): string | null {
  const s = raw.toString('utf8');
  return Buffer.from(s, 'utf8').equals(raw) ? s : null;
}

export function scanWorkspace(workspace: string): ScanResult {
  const entries: ScanEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const nestedExcluded: string[] = [];
  const stack: string[] = [''];
  while (stack.length > 0) {
    const dirRel = stack.pop()!;
    const dirAbs = dirRel === '' ? workspace : join(workspace, dirRel);
    let names: Buffer[];
    try {
      names = readdirSync(dirAbs, { encoding: 'buffer' });
    } catch (err) {
      if (dirRel !== '') skipped.push({ path: dirRel, reason: `unreadable folder (${codeOf(err)})` });
      else throw err;
      continue;
    }
    for (const raw of names) {
      const name = decodeName(raw);
      if (name === null) {
        skipped.push({ path: posix.join(dirRel, raw.toString('utf8')), reason: 'name is not valid UTF-8' });
        continue;
      }
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      if (EXCLUDED_NAMES.has(name)) {
        if (dirRel !== '') nestedExcluded.push(rel);
        continue;
      }
      const abs = join(dirAbs, name);
      let st: BigIntStats;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (err) {
        skipped.push({ path: rel, reason: `vanished while scanning (${codeOf(err)})` });
        continue;
      }
      const base = {
        rel,
        abs,
        mode: Number(st.mode) & 0o777,
        mtimeMs: Number(st.mtimeNs / 1000n) / 1000,
        statKey: statKeyOf(st),
      };
      if (st.isDirectory()) {
        entries.push({ ...base, kind: 'dir', size: 0, target: null });
        stack.push(rel);
      } else if (st.isFile()) {
        entries.push({ ...base, kind: 'file', size: Number(st.size), target: null });
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(abs);
        } catch (err) {
          skipped.push({ path: rel, reason: `unreadable symlink (${codeOf(err)})` });
          continue;
        }
        if (!linkPointsInside(rel, target, workspace)) {
          skipped.push({ path: rel, reason: `symlink points outside the workspace (${target})` });
          continue;
        }
        entries.push({ ...base, kind: 'symlink', size: Buffer.byteLength(target), target });
      } else {
        skipped.push({ path: rel, reason: 'not a regular file, folder or symlink' });
      }
    }
  }
  entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  nestedExcluded.sort();
  return { entries, skipped, nestedExcluded };
}

export function codeOf(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}
