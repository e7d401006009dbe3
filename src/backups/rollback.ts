// Rollback of a workspace to a backup, crash-safe, and the roll-forward of one a crash interrupted.

// Crash safety of rollback. The workspace folder is the source of the box's bind mount: renaming it would leave a
// running box on the old inode (its Python would keep seeing the old files). So the rollback swaps the folder's
// CONTENTS, entry by entry, and the folder keeps its inode:
//   1. stage: the backup's tree is built in <session root>/.rollback-staging (a sibling of the workspace, on the
//      same filesystem, invisible to the box) from the blobs, re-hashing every byte, so a damaged backup is
//      refused before anything else happens; then it is made durable;
//   2. a pre_rollback backup of the current state is taken, so the rollback itself can be undone;
//   3. commit point: <session root>/.rollback-journal.json is written atomically (temp, fsync, rename, fsync);
//   4. swap with rename(2) only: every top-level entry except the excluded ones (.venv, .cache, __pycache__)
//      moves to .rollback-old, the journal records that this phase is done, every staged entry moves in, and
//      excluded folders nested in restored folders (pkg/__pycache__) move back; then the journal is deleted;
//   5. .rollback-old is renamed to a trash folder and deleted after the caller has its answer.
// A crash before 3 leaves the workspace untouched (recover() deletes the staging folder); a crash after 3 is
// rolled forward by recover(), which redoes the remaining steps of 4 (each is idempotent). Either way the
// workspace ends entirely in the old state or entirely in the backup's. A row in backup_rollbacks, written
// before step 1, tells recover() which session roots to look at. The running Python keeps working, so
// python_restarted_required is false; modules it already imported are not reloaded. Callers should run a
// rollback while no code runs in the box (the session's queue): a file written into the workspace during
// the swap is moved out with the old entries.
import { mkdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { SandboxError, invalidArgument } from '../errors.js';
import type { BackupFileRow, RollbackMarkerRow } from '../store/backups-repo.js';
import { removeTree } from '../fsafe/remove.js';
import { workspaceOwner } from '../fsafe/dir.js';
import { fsyncDir } from './blob-store.js';
import { getBackup, pidAlive, workspaceReal, type BackupContext } from './context.js';
import { takeBackup } from './create.js';
import { diffEntries } from './diff.js';
import { faultPoint } from './fault.js';
import { stageManifest } from './stage.js';
import {
  completeSwap,
  readJournal,
  moveOldToTrash,
  removeLeftovers,
  rollbackPaths,
  writeJournal,
  type RollbackJournal,
} from './swap.js';
import type { RecoverReport, RollbackOptions, RollbackResult } from './types.js';

export async function rollbackWorkspace(
  ctx: BackupContext,
  sessionId: string,
  name: string,
  workspace: string,
  opts: RollbackOptions,
): Promise<RollbackResult> {
  const t0 = performance.now();
  getBackup(ctx, sessionId, name);
  const wsReal = workspaceReal(workspace);
  const paths = rollbackPaths(wsReal);
  if (statSync(paths.root).dev !== statSync(wsReal).dev) {
    throw new SandboxError(
      'internal',
      'rollback needs the workspace and its parent folder on one filesystem',
      {
        workspace: wsReal,
      },
    );
  }
  const earlier = ctx.repo.rollbackForWorkspace(wsReal);
  if (earlier) {
    if (earlier.pid !== process.pid && pidAlive(earlier.pid)) {
      throw invalidArgument('a rollback of this workspace is already running in another server process', {
        backup: earlier.backup_name,
      });
    }
    await recoverRollback(ctx, earlier, { rollbacks_completed: [], rollbacks_abandoned: [] });
  }
  // The marker goes in before the manifest is read: from then on no cleanup (in any process) deletes the
  // backup, and a cleanup that won the race has already made it not_found.
  const markerId = ctx.repo.insertRollback({
    session_id: sessionId,
    backup_name: name,
    workspace: wsReal,
    pid: process.pid,
    started_at: ctx.now().toISOString(),
  });
  ctx.liveRollbacks.add(markerId);
  let rows: BackupFileRow[];
  try {
    rows = ctx.repo.files(getBackup(ctx, sessionId, name).id);
  } catch (err) {
    ctx.repo.deleteRollback(markerId);
    ctx.liveRollbacks.delete(markerId);
    throw err;
  }
  const total = rows.filter((r) => r.kind !== 'dir').length + 1;
  let done = 0;
  let committed = false;
  try {
    await removeLeftovers(paths);
    const staged = await stageManifest(rows, paths.staging, ctx.blobs, {
      owner: workspaceOwner(),
      concurrency: ctx.concurrency,
      scratch: ctx.scratch,
      onItem: () => opts.onProgress?.(++done, total),
    });
    if (staged.missing.length > 0 || staged.corrupt.length > 0) {
      throw new SandboxError(
        'internal',
        `backup '${name}' is damaged (${staged.missing.length} missing, ${staged.corrupt.length} corrupt files); the workspace was not changed`,
        { backup: name, missing: staged.missing, corrupt: staged.corrupt },
        'roll back to another backup; verify_backup reports the damaged files',
      );
    }
    faultPoint('rollback:after_staging');
    const pre = await takeBackup(ctx, sessionId, wsReal, { reason: 'pre_rollback' }, [name]);
    faultPoint('rollback:after_pre_backup');
    const changes = diffEntries(pre.rows, rows);
    const restoredDirs = new Set(rows.filter((r) => r.kind === 'dir').map((r) => r.path));
    const journal: RollbackJournal = {
      version: 1,
      session_id: sessionId,
      backup: name,
      pre_rollback_backup: pre.result.name,
      workspace: wsReal,
      phase: 'evict',
      carry: pre.nestedExcluded.filter((p) => restoredDirs.has(posix.dirname(p))),
    };
    mkdirSync(paths.old, { mode: 0o700 });
    fsyncDir(paths.root);
    writeJournal(paths, journal);
    committed = true;
    faultPoint('rollback:after_journal');
    try {
      completeSwap(paths, journal, 'rollback');
    } catch {
      // One more try from what the journal now says (no journal: the swap had finished); if this fails too,
      // the marker stays and recover() finishes the swap at start-up.
      const again = readJournal(paths);
      if (again) completeSwap(paths, again, 'rollback');
    }
    opts.onProgress?.(total, total);
    try {
      await removeTree(paths.staging);
      const trash = moveOldToTrash(paths, ctx.trashDir);
      if (trash === null) await removeTree(paths.old);
      faultPoint('rollback:after_trash');
      ctx.repo.deleteRollback(markerId);
      if (trash !== null) ctx.background(deleteTrash(ctx, trash));
    } catch {
      // The workspace is final; leftovers stay marked and the next rollback or recover() removes them.
    }
    return {
      backup: name,
      restored_files: changes.added.length + changes.changed.length,
      removed_files: changes.deleted.length,
      unchanged_files: changes.unchanged,
      pre_rollback_backup: pre.result.name,
      not_backed_up: pre.result.skipped,
      python_restarted_required: false,
      duration_ms: Math.round(performance.now() - t0),
    };
  } catch (err) {
    if (!committed) {
      await removeLeftovers(paths);
      ctx.repo.deleteRollback(markerId);
      throw err;
    }
    throw new SandboxError(
      'internal',
      `rollback to '${name}' was interrupted after its commit point; it completes when the server restarts`,
      { backup: name, cause: err instanceof Error ? err.message : String(err) },
    );
  } finally {
    ctx.liveRollbacks.delete(markerId);
  }
}

export async function recoverRollback(
  ctx: BackupContext,
  marker: RollbackMarkerRow,
  report: Pick<RecoverReport, 'rollbacks_completed' | 'rollbacks_abandoned'>,
): Promise<void> {
  const paths = rollbackPaths(marker.workspace);
  const journal = readJournal(paths);
  const label = `${marker.session_id}:${marker.backup_name}`;
  if (journal) {
    completeSwap(paths, journal, 'recover');
    report.rollbacks_completed.push(label);
  } else {
    report.rollbacks_abandoned.push(label);
  }
  await removeLeftovers(paths);
  ctx.repo.deleteRollback(marker.id);
}

/** Deletes an old tree moved to the trash, marked as being deleted meanwhile so the sweep leaves it alone. */
export async function deleteTrash(ctx: BackupContext, path: string): Promise<void> {
  ctx.trashing.add(path);
  try {
    await removeTree(path);
  } finally {
    ctx.trashing.delete(path);
  }
}
