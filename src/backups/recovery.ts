// Start-up recovery: finishes or abandons the rollbacks a dead process left, drops its half-made backups, and sweeps
// its trash trees, temp blobs and unreferenced blobs in the background.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nextTurn, pidAlive, type BackupContext } from './context.js';
import { collectUnreferenced } from './retention.js';
import { deleteTrash, recoverRollback } from './rollback.js';
import type { RecoverReport } from './types.js';

/**
 * Call once at start-up, before serving: finishes or abandons rollbacks a dead process left (see rollback.ts)
 * and drops its half-made backups. Deleting its trash, temp files and unreferenced blobs starts in the
 * background (idle() waits for it). Safe to run again at any time.
 */
export async function recover(ctx: BackupContext): Promise<RecoverReport> {
  const stale = (pid: number): boolean => pid === process.pid || !pidAlive(pid);
  const report: RecoverReport = {
    rollbacks_completed: [],
    rollbacks_abandoned: [],
    failed: [],
    pending_backups_removed: 0,
  };
  for (const marker of ctx.repo.rollbacks()) {
    if (ctx.liveRollbacks.has(marker.id) || !stale(marker.pid)) continue;
    try {
      await recoverRollback(ctx, marker, report);
    } catch (err) {
      report.failed.push({
        workspace: marker.workspace,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  for (const p of ctx.repo.pendingBackups()) {
    if (ctx.liveBackups.has(p.id) || !stale(p.pid)) continue;
    ctx.repo.deleteById(p.id);
    report.pending_backups_removed++;
  }
  ctx.background(sweep(ctx));
  return report;
}

/** Deletes what dead writers left: trash trees, temp blobs, and blobs no manifest references. */
async function sweep(ctx: BackupContext): Promise<void> {
  await nextTurn(); // recover() returns, and the server starts serving, before any of this runs
  for (const name of readdirSync(ctx.trashDir)) {
    const path = join(ctx.trashDir, name);
    const pid = Number(name.split('-', 1)[0]);
    // Our own pid and not being deleted: a previous life of this process (pid reuse) or a failed deletion.
    if (ctx.trashing.has(path) || (pid !== process.pid && pidAlive(pid))) continue;
    try {
      await deleteTrash(ctx, path);
    } catch {
      // left for the next sweep; the rest still runs
    }
  }
  // Our own pid on a temp file means a previous life of this process (pid reuse) unless a backup is running.
  ctx.blobs.sweepTemps((pid) => (pid === process.pid ? ctx.liveBackups.size === 0 : !pidAlive(pid)));
  await collectUnreferenced(ctx);
}
