// The state every backup operation shares (stores, limits, the rows and trees this process is working on) and the
// lookups they all use; the operations live in create, inspect, rollback, restore-file, retention and recovery.
import { realpathSync, statSync } from 'node:fs';
import { invalidArgument, notFound } from '../errors.js';
import type { BackupRow, BackupsRepo } from '../store/backups-repo.js';
import type { BlobStore } from './blob-store.js';
import type { ScratchPool } from './scratch.js';
import type { CategorizeFn } from './types.js';

export interface BackupContext {
  readonly repo: BackupsRepo;
  readonly blobs: BlobStore;
  readonly categorize: CategorizeFn;
  /** Retention run after every backup: newest N kept per session; null keeps everything. */
  readonly maxBackups: number | null;
  /** Bytes (apparent size) of files one backup holds at most, the largest left out first; null: no limit. */
  readonly maxBackupBytes: number | null;
  /** Files read, hashed or written at once. */
  readonly concurrency: number;
  readonly now: () => Date;
  /** Read buffers reused across files instead of one per file; it keeps at most `concurrency` idle ones. */
  readonly scratch: ScratchPool;
  /** Old trees of committed rollbacks wait here to be deleted; recover() empties what a dead process left. */
  readonly trashDir: string;
  /** Rows this process is working on, so recover() never mistakes them for a dead process's leftovers. */
  readonly liveBackups: Set<number>;
  readonly liveRollbacks: Set<number>;
  /** Trash trees being deleted by this process, so the sweep never deletes one twice at once. */
  readonly trashing: Set<string>;
  /** Runs work after the caller has its answer: deleting old trees, and recover()'s sweep. */
  background(work: Promise<void>): void;
}

const NOT_FOUND_HINT = 'list_artifact_backups shows the backups of this session';

/** A complete backup of the session by name, or not_found. */
export function getBackup(ctx: BackupContext, sessionId: string, name: string): BackupRow {
  if (typeof name !== 'string') throw invalidArgument('backup name must be a string', { field: 'name' });
  const row = ctx.repo.getComplete(sessionId, name);
  if (!row) throw notFound('backup', name, NOT_FOUND_HINT);
  return row;
}

/** The workspace folder with symlinks resolved, or invalid_argument when it is not an existing folder. */
export function workspaceReal(workspace: string): string {
  try {
    const real = realpathSync(workspace);
    if (!statSync(real).isDirectory()) throw new Error('not a folder');
    return real;
  } catch {
    throw invalidArgument(`workspace '${workspace}' is not an existing folder`, { workspace });
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
