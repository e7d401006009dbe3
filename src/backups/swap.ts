// The crash-safe core of rollback: the journal and the redoable entry-by-entry swap of the workspace's contents; never renames the workspace itself or deletes anything before the commit.
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Dir, withDir } from '../fsafe/dir.js';
import { removeTree } from '../fsafe/remove.js';
import { fsyncDir } from './blob-store.js';
import { faultPoint } from './fault.js';
import { EXCLUDED_NAMES } from './scan.js';

export interface RollbackPaths {
  /** The session root: the workspace's parent, on the same filesystem, invisible to the box. */
  root: string;
  workspace: string;
  /** The backup's tree, complete and fsynced before the journal is written. */
  staging: string;
  /** Where the workspace's previous entries go; deleted once the swap is committed. */
  old: string;
  journal: string;
}

export interface RollbackJournal {
  version: 1;
  session_id: string;
  backup: string;
  pre_rollback_backup: string;
  workspace: string;
  /** evict: moving the old entries out; install: moving the staged entries in. */
  phase: 'evict' | 'install';
  /** Excluded folders below the top level (e.g. pkg/__pycache__) to move back under the restored parent. */
  carry: string[];
}

export function rollbackPaths(workspace: string): RollbackPaths {
  const root = dirname(workspace);
  return {
    root,
    workspace,
    staging: join(root, '.rollback-staging'),
    old: join(root, '.rollback-old'),
    journal: join(root, '.rollback-journal.json'),
  };
}

/** Atomic and durable: temp, fsync, rename, fsync of the folder. Its appearance is the rollback's commit point. */
export function writeJournal(paths: RollbackPaths, journal: RollbackJournal): void {
  const tmp = `${paths.journal}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(journal));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, paths.journal);
  fsyncDir(paths.root);
}

export function readJournal(paths: RollbackPaths): RollbackJournal | null {
  let text: string;
  try {
    text = readFileSync(paths.journal, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const j = JSON.parse(text) as Partial<RollbackJournal>;
  if (j.version !== 1 || (j.phase !== 'evict' && j.phase !== 'install') || !Array.isArray(j.carry)) {
    throw new Error(`unreadable rollback journal ${paths.journal}`);
  }
  return j as RollbackJournal;
}

function exists(path: string | Buffer): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * rename(2), and when it is refused for lack of write permission (a read-only folder being moved needs its
 * '..' rewritten), grants the owner write on the folders involved for the move and restores their modes.
 */
function renameForce(src: Buffer, dst: Buffer): void {
  try {
    renameSync(src, dst);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
  }
  const srcParent = Buffer.from(dirname(src.toString('latin1')), 'latin1');
  const dstParent = Buffer.from(dirname(dst.toString('latin1')), 'latin1');
  // Modes are changed through descriptors of the folders themselves (opened O_NOFOLLOW): a folder the box swapped
  // for a symlink meanwhile is never followed to a host file.
  const saved: Array<[number, number]> = [];
  try {
    for (const p of [src, srcParent, dstParent]) {
      let fd: number;
      try {
        fd = openSync(p, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch {
        continue; // not a folder
      }
      const mode = fstatSync(fd).mode & 0o7777;
      saved.push([fd, mode]);
      fchmodSync(fd, mode | 0o700);
    }
    renameSync(src, dst);
  } finally {
    for (const [fd, mode] of saved) {
      try {
        fchmodSync(fd, mode);
      } finally {
        closeSync(fd);
      }
    }
  }
}

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const under = (dir: string, name: Buffer): Buffer => Buffer.concat([buf(dir), buf('/'), name]);

/** Moves `src` into folder `dir` as `name`, or under a fresh `.stray-N-name` if that name is taken. */
function moveInto(src: Buffer, dir: string, name: Buffer): void {
  let dst = under(dir, name);
  for (let n = 1; exists(dst); n++) dst = under(dir, Buffer.concat([buf(`.stray-${n}-`), name]));
  renameForce(src, dst);
}

/**
 * Moves excluded folder `rel` (like pkg/__pycache__) from the old tree back under its restored parent. Both parents
 * are walked through descriptors: the old tree and the workspace hold what the box made, so neither is followed
 * through a symlink.
 */
function carryBack(old: string, workspace: string, rel: string): void {
  const segs = rel.split('/');
  const name = segs.pop()!;
  let from: Dir | null = null;
  let to: Dir | null = null;
  try {
    from = withDir(Dir.openPath(old), (d) => d.walk(segs));
    to = withDir(Dir.openPath(workspace), (d) => d.walk(segs));
    if (from.lstat(name) === null || to.lstat(name) !== null) return;
    from.rename(name, to, name);
    to.sync();
  } catch {
    // a parent that is not a plain folder any more: the excluded folder stays in the old tree
  } finally {
    from?.close();
    to?.close();
  }
}

/**
 * Runs the swap from the journal's phase to the end and removes the journal. Idempotent: each step checks
 * what is already done, so a crash inside it (or inside recovery) is finished by running it again.
 * `who` names fault points ('rollback' or 'recover').
 */
export function completeSwap(paths: RollbackPaths, journal: RollbackJournal, who: string): void {
  const { workspace, staging, old } = paths;
  if (journal.phase === 'evict') {
    // Everything not excluded still in the workspace is old state (or a stray written meanwhile): move it out.
    let first = true;
    for (const name of readdirSync(workspace, { encoding: 'buffer' })) {
      if (EXCLUDED_NAMES.has(name.toString('utf8'))) continue;
      moveInto(under(workspace, name), old, name);
      if (first) {
        first = false;
        faultPoint(`${who}:evict_mid`);
      }
    }
    fsyncDir(old);
    fsyncDir(workspace);
    journal = { ...journal, phase: 'install' };
    writeJournal(paths, journal);
    faultPoint(`${who}:after_evict`);
  }
  let first = true;
  for (const name of readdirSync(staging, { encoding: 'buffer' })) {
    const dst = under(workspace, name);
    // Only something written into the workspace during the swap can be here; it must not block the install.
    if (exists(dst)) moveInto(dst, old, name);
    renameForce(under(staging, name), dst);
    if (first) {
      first = false;
      faultPoint(`${who}:install_mid`);
    }
  }
  for (const rel of journal.carry) carryBack(old, workspace, rel);
  fsyncDir(workspace);
  faultPoint(`${who}:before_commit`);
  unlinkSync(paths.journal);
  fsyncDir(paths.root);
  faultPoint(`${who}:after_commit`);
}

/** Deletes the staging and old trees, making read-only folders writable first so nothing is left behind. */
export async function removeLeftovers(paths: RollbackPaths): Promise<void> {
  for (const dir of [paths.staging, paths.old]) await removeTree(dir);
  try {
    unlinkSync(`${paths.journal}.tmp`);
  } catch {
    // not there
  }
}

/**
 * After the commit only: moves the old tree into `trashDir` (named after this process, so recovery can tell
 * whose it is) to be deleted without holding up the caller. Null when trashDir is on another filesystem.
 */
export function moveOldToTrash(paths: RollbackPaths, trashDir: string): string | null {
  if (lstatSync(trashDir).dev !== lstatSync(paths.old).dev) return null;
  const trash = join(
    trashDir,
    `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
  );
  renameSync(paths.old, trash);
  return trash;
}
