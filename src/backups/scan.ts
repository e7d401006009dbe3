// Lists a workspace for a backup (folders, files, inside-pointing symlinks, minus excluded folders) through folder descriptors; never follows a symlink and never reads file contents.
import { readlinkSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import type { Dir } from '../fsafe/dir.js';
import type { SkippedEntry } from './types.js';

/** Rebuildable caches and environments: never backed up, never removed or replaced by a rollback. */
export const EXCLUDED_NAMES: ReadonlySet<string> = new Set(['.venv', '__pycache__', '.cache']);

/** Where the box sees the workspace; absolute link targets under it point inside. */
export const BOX_WORKSPACE = '/workspace';

export interface ScanEntry {
  rel: string;
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

interface Pending {
  rel: string;
  parent: Held;
  name: Buffer;
}

/** A folder descriptor shared by the pending children listed in it; closed when the last one has been opened. */
interface Held {
  dir: Dir;
  refs: number;
}

function release(h: Held): void {
  if (--h.refs === 0) h.dir.close();
}

/**
 * Lists the workspace through folder descriptors (each folder opened relative to its parent, never through a
 * symlink), so a folder swapped for a symlink while scanning is skipped, never followed out of the workspace.
 */
export function scanWorkspace(root: Dir, hostWorkspace: string): ScanResult {
  const entries: ScanEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const nestedExcluded: string[] = [];
  const stack: Pending[] = [];
  const visit = (dirRel: string, held: Held): void => {
    const dir = held.dir;
    let names: Buffer[];
    try {
      names = dir.list();
    } catch (err) {
      if (dirRel === '') throw err;
      skipped.push({ path: dirRel, reason: `unreadable folder (${codeOf(err)})` });
      return;
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
      let st: BigIntStats | null;
      try {
        st = dir.lstat(raw);
      } catch (err) {
        skipped.push({ path: rel, reason: `vanished while scanning (${codeOf(err)})` });
        continue;
      }
      if (st === null) {
        skipped.push({ path: rel, reason: 'vanished while scanning (ENOENT)' });
        continue;
      }
      const base = {
        rel,
        mode: Number(st.mode) & 0o777,
        mtimeMs: Number(st.mtimeNs / 1000n) / 1000,
        statKey: statKeyOf(st),
      };
      if (st.isDirectory()) {
        entries.push({ ...base, kind: 'dir', size: 0, target: null });
        held.refs++;
        stack.push({ rel, parent: held, name: raw });
      } else if (st.isFile()) {
        entries.push({ ...base, kind: 'file', size: Number(st.size), target: null });
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(dir.at(raw), 'utf8');
        } catch (err) {
          skipped.push({ path: rel, reason: `unreadable symlink (${codeOf(err)})` });
          continue;
        }
        if (!linkPointsInside(rel, target, hostWorkspace)) {
          skipped.push({ path: rel, reason: `symlink points outside the workspace (${target})` });
          continue;
        }
        entries.push({ ...base, kind: 'symlink', size: Buffer.byteLength(target), target });
      } else {
        skipped.push({ path: rel, reason: 'not a regular file, folder or symlink' });
      }
    }
  };
  const top: Held = { dir: root.reopen(), refs: 1 };
  try {
    visit('', top);
  } finally {
    release(top);
  }
  while (stack.length > 0) {
    const p = stack.pop()!;
    let held: Held;
    try {
      held = { dir: p.parent.dir.openDir(p.name), refs: 1 };
    } catch (err) {
      skipped.push({ path: p.rel, reason: `changed while scanning (${codeOf(err)})` });
      continue;
    } finally {
      release(p.parent);
    }
    try {
      visit(p.rel, held);
    } finally {
      release(held);
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
