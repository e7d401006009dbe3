// What a volume workspace holds, per file (type, size, mtime, link target): read on the host through folder
// descriptors, and in the box by src/agent/workspace_listing.py (sent with a call's completion, or run through the
// Engine API), whose answer is checked as hostile.
import { readlinkSync } from 'node:fs';
import { Dir, withDir } from '../../fsafe/dir.js';
import { HOST_TEMP_NAME } from '../../workspace/file-io.js';

export type EntryKind = 'f' | 'd' | 'l' | 'o';

export interface ManifestEntry {
  kind: EntryKind;
  size: number;
  /** Nanoseconds, as a decimal string (beyond a double's precision). */
  mtimeNs: string;
  /** A symlink's target. */
  target?: string;
}

/** Workspace-relative posix path → entry; parents always come before their children in insertion order. */
export type Manifest = Map<string, ManifestEntry>;

/** The most entries a manifest may have, and the most bytes the box's answer may take. */
export const MAX_ENTRIES = 500_000;
export const MAX_MANIFEST_BYTES = 128 * 1024 * 1024;

/** The longest workspace-relative path either side lists, in UTF-8 bytes (MAX_REL_BYTES in workspace_listing.py). */
export const MAX_REL_BYTES = 4096;

/** No lone surrogate (a name that was not UTF-8 in the box): it could not be written back under the same name. */
function wellFormed(s: string): boolean {
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

/** What an entry is, in one comparable string: a change of any part is a change. */
export function signature(e: ManifestEntry): string {
  return `${e.kind}:${e.size}:${e.mtimeNs}:${e.target ?? ''}`;
}

/**
 * A workspace-relative path as the sync accepts it: UTF-8, components neither empty, '.', '..' nor with NUL, not
 * absolute, at most 4096 bytes. Anything else from the box is refused, never interpreted.
 */
export function validRel(rel: unknown): rel is string {
  if (typeof rel !== 'string' || rel === '' || rel.startsWith('/') || !wellFormed(rel)) return false;
  if (Buffer.byteLength(rel) > MAX_REL_BYTES || rel.includes('\0')) return false;
  return rel.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** The host workspace as a manifest, walked through descriptors (links are recorded, never followed). */
export function hostManifest(workspace: string): Manifest {
  const out: Manifest = new Map();
  withDir(Dir.openPath(workspace), (root) => walkHost(root, '', out));
  return out;
}

/** The entry `name` of an open folder as the manifest records it (lstat: a link is recorded, never followed), or null. */
export function entryAt(dir: Dir, name: string): ManifestEntry | null {
  const st = dir.lstat(name);
  if (!st) return null;
  if (st.isDirectory()) return { kind: 'd', size: 0, mtimeNs: '0' };
  const base = { size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
  if (!st.isSymbolicLink()) return { kind: st.isFile() ? 'f' : 'o', ...base };
  try {
    return { kind: 'l', ...base, target: readlinkSync(dir.at(name), 'utf8') };
  } catch {
    return null;
  }
}

function walkHost(dir: Dir, prefix: string, out: Manifest): void {
  for (const raw of dir.list()) {
    const name = raw.toString('utf8');
    if (!Buffer.from(name).equals(raw)) continue; // a name that is not UTF-8 stays where it is
    if (HOST_TEMP_NAME.test(name)) continue; // a file the server is still writing, or a crashed write's leftover
    const rel = prefix + name;
    if (Buffer.byteLength(rel) > MAX_REL_BYTES) continue; // the box's listing leaves it out too: it stays where it is
    const e = entryAt(dir, name);
    if (!e) continue;
    out.set(rel, e);
    if (e.kind !== 'd') continue;
    let child: Dir;
    try {
      child = dir.openDir(name);
    } catch {
      out.delete(rel); // swapped meanwhile
      continue;
    }
    withDir(child, (c) => walkHost(c, `${rel}/`, out));
  }
}

export class ManifestError extends Error {}

/** The box's answer as a manifest; one malformed line refuses the whole answer (the sync then moves nothing). */
export function parseBoxManifest(text: string): Manifest {
  if (text.length > MAX_MANIFEST_BYTES)
    throw new ManifestError(`the workspace manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const out: Manifest = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new ManifestError('a manifest line is not JSON');
    }
    if (!Array.isArray(rec) || rec.length < 4 || rec.length > 5)
      throw new ManifestError('a manifest line is malformed');
    const [rel, kind, size, mtimeNs, target] = rec as unknown[];
    if (!validRel(rel)) throw new ManifestError(`a manifest path is refused: ${JSON.stringify(rel)}`);
    if (kind !== 'f' && kind !== 'd' && kind !== 'l' && kind !== 'o')
      throw new ManifestError('a manifest kind is unknown');
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw new ManifestError('a size is bad');
    if (typeof mtimeNs !== 'string' || !/^-?[0-9]{1,24}$/.test(mtimeNs))
      throw new ManifestError('an mtime is bad');
    if (
      kind === 'l' &&
      (typeof target !== 'string' || target === '' || target.includes('\0') || !wellFormed(target))
    )
      throw new ManifestError('a link target is bad');
    const cut = rel.lastIndexOf('/');
    if (cut > 0 && out.get(rel.slice(0, cut))?.kind !== 'd')
      throw new ManifestError('an entry comes before its folder');
    if (out.has(rel)) throw new ManifestError('a manifest path is repeated');
    out.set(rel, { kind, size, mtimeNs, ...(kind === 'l' ? { target: target as string } : {}) });
    if (out.size > MAX_ENTRIES) throw new ManifestError(`the workspace has more than ${MAX_ENTRIES} entries`);
  }
  return out;
}

/** A virtualenv's interpreter link (bin/python → the system's python3): the one target out of the workspace kept. */
const SYSTEM_PYTHON = /^\/usr\/(local\/)?bin\/python3(\.[0-9]+)?$/;

/**
 * Whether a symlink at `rel` pointing to `target` may be made on the host: relative, its '..' steps only at the
 * start and never above the root, then names only (every such link has that form, so following any chain of them
 * never leaves the workspace); or a virtualenv's link to the system python3, which the server itself checks venvs by.
 */
export function linkStaysInside(rel: string, target: string): boolean {
  if (target.startsWith('/')) return SYSTEM_PYTHON.test(target) && /(^|\/)bin\/python[0-9.]*$/.test(rel);
  let level = rel.split('/').length - 1;
  let descending = false;
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (descending) return false;
      level--;
      if (level < 0) return false;
    } else descending = true;
  }
  return true;
}
