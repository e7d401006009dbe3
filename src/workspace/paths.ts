// Path containment for session workspaces: turns a caller's relative path into a host path inside the workspace; must never return a path that resolves outside it.
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SandboxError } from '../errors.js';

export interface ResolveOptions {
  /** Refuse (not_found) when the path does not exist yet. */
  mustExist?: boolean;
  /** Accept an existing directory; without it only files (or not-yet-existing paths) are accepted. */
  allowDir?: boolean;
}

const HINT = "Use a path relative to the workspace, such as 'data/out.csv', without '..' or a leading '/'.";

function refuse(message: string, path: string, reason: string): SandboxError {
  return new SandboxError('invalid_argument', message, { path, reason }, HINT);
}

function tryLstat(p: string, rel: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'ELOOP')
      throw refuse(`The path '${rel}' goes through a symbolic link loop`, rel, 'symlink_loop');
    if (code === 'ENAMETOOLONG') throw refuse(`The path '${rel.slice(0, 80)}…' is too long`, rel, 'too_long');
    // EINVAL: the name stopped being a symlink between lstat and readlink, i.e. the box is renaming it.
    if (code === 'EINVAL') throw changed(rel);
    throw err;
  }
}

/**
 * A lookup that failed for a reason only a change in the middle of it explains (a folder swapped for a symlink
 * between lstat and readlink is EINVAL): the box is changing the path. The host error, which names host paths,
 * stays here.
 */
function changed(rel: string): SandboxError {
  return new SandboxError(
    'invalid_argument',
    `The path '${rel}' changed while it was being looked up`,
    { path: rel, reason: 'changed_during_lookup' },
    'Something in the sandbox is renaming or replacing it; try again once it is stable.',
  );
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Lexical checks only (no file system): the segments a workspace path is made of, `.` and empty ones dropped. */
export function workspaceSegments(rel: string): string[] {
  if (typeof rel !== 'string' || rel.length === 0 || rel.trim().length === 0) {
    throw refuse('The path is empty', String(rel), 'empty');
  }
  if (rel.includes('\0'))
    throw refuse('The path contains a NUL byte', rel.replaceAll('\0', '\\0'), 'nul_byte');
  if (isAbsolute(rel)) {
    throw refuse(`The path '${rel}' is absolute; paths are relative to the workspace`, rel, 'absolute');
  }
  const segments = rel.split('/');
  if (segments.includes('..')) throw refuse(`The path '${rel}' contains '..'`, rel, 'parent_segment');
  return segments.filter((s) => s !== '' && s !== '.');
}

/**
 * The absolute host path for `rel` inside `workspace`. The deepest existing ancestor is resolved with
 * realpath, so a symlink anywhere on the way that points out of the workspace is refused, while a file
 * that does not exist yet can still be named (for writes). The returned path is built on the resolved
 * ancestor, so a caller never walks through a symlink that was checked only lexically.
 */
export function resolveInWorkspace(workspace: string, rel: string, opts: ResolveOptions = {}): string {
  const segments = workspaceSegments(rel);
  let root: string;
  try {
    root = realpathSync(workspace);
  } catch {
    throw new SandboxError(
      'not_found',
      'The session workspace does not exist',
      { path: rel },
      'Create the session again.',
    );
  }

  // Walk down while the components exist; the first missing one starts the part that is created later.
  let existing = 0;
  let lastStat: Stats | null = null;
  for (let i = 0; i < segments.length; i++) {
    const st = tryLstat(join(root, ...segments.slice(0, i + 1)), rel);
    if (!st) break;
    existing = i + 1;
    lastStat = st;
  }
  const ancestor = join(root, ...segments.slice(0, existing));
  let realAncestor: string;
  try {
    realAncestor = realpathSync(ancestor);
  } catch (err) {
    // A dangling or looping symlink cannot be resolved: its target is unknown, so it is never used.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') {
      throw refuse(`The path '${rel}' goes through a broken symbolic link`, rel, 'dangling_symlink');
    }
    if (code === 'ENAMETOOLONG') throw refuse(`The path '${rel.slice(0, 80)}…' is too long`, rel, 'too_long');
    // EINVAL: the name stopped being a symlink between lstat and readlink, i.e. the box is renaming it.
    if (code === 'EINVAL') throw changed(rel);
    throw err;
  }
  if (!isInside(root, realAncestor)) {
    throw refuse(
      `The path '${rel}' leads outside the workspace through a symbolic link`,
      rel,
      'escapes_workspace',
    );
  }
  const rest = segments.slice(existing);
  if (rest.length > 0) {
    const realStat = tryLstat(realAncestor, rel);
    if (realStat && !realStat.isDirectory()) {
      throw refuse(
        `'${segments.slice(0, existing).join('/')}' is a file, not a folder`,
        rel,
        'not_a_directory',
      );
    }
  }
  const full = join(realAncestor, ...rest);

  const exists = rest.length === 0;
  if (opts.mustExist && !exists) {
    throw new SandboxError(
      'not_found',
      `file '${rel}' does not exist`,
      { kind: 'file', name: rel },
      'List the workspace files with list_artifacts.',
    );
  }
  if (exists && !opts.allowDir) {
    const st = lastStat?.isSymbolicLink() ? tryLstat(realAncestor, rel) : (lastStat ?? tryLstat(root, rel));
    if (st?.isDirectory()) throw refuse(`'${rel}' is a folder, not a file`, rel, 'is_directory');
  }
  return full;
}

/** The workspace-relative posix path of a host path inside the workspace; refuses a path outside it. */
export function toWorkspaceRel(workspace: string, abs: string): string {
  const candidates = [resolve(workspace)];
  try {
    const real = realpathSync(workspace);
    if (real !== candidates[0]) candidates.push(real);
  } catch {
    // A workspace that no longer exists can still be compared lexically.
  }
  const target = resolve(abs);
  for (const root of candidates) {
    if (!isInside(root, target)) continue;
    const rel = relative(root, target);
    return sep === '/' ? rel : rel.split(sep).join('/');
  }
  // The host path itself is never shown: only its last name.
  throw refuse(`'${basename(abs)}' is not inside the workspace`, basename(abs), 'outside_workspace');
}
