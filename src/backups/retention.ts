// Retention and garbage: keeping the newest backups of a session, and deleting blobs no manifest references; a blob
// a manifest references is never deleted.
import { invalidArgument } from '../errors.js';
import { nextTurn, type BackupContext } from './context.js';
import type { CleanupOptions, CleanupResult } from './types.js';

/** Unreferenced blobs checked and deleted between two turns of the event loop by gc(). */
const GC_SLICE = 512;

/** Keeps the newest maxBackups backups of the session (and those named in opts.keep or being rolled back to). */
export function keepNewest(
  ctx: BackupContext,
  sessionId: string,
  maxBackups: number,
  opts: CleanupOptions,
): CleanupResult {
  if (!Number.isInteger(maxBackups) || maxBackups < 0) {
    throw invalidArgument('max_backups must be a whole number of at least 0', { max_backups: maxBackups });
  }
  // Choosing and deleting in one write transaction: a rollback marker inserted meanwhile is either seen here
  // or finds its backup gone. Manifests go before blobs: a crash between the two steps leaves unreferenced
  // blobs (swept later), never a manifest pointing at a deleted blob.
  const { victims, kept, shas } = ctx.repo.immediate(() => {
    const protect = new Set([...(opts.keep ?? []), ...ctx.repo.rollbackSources(sessionId)]);
    const all = ctx.repo.listComplete(sessionId);
    const victims = all.slice(maxBackups).filter((b) => !protect.has(b.name));
    const gone = new Set(victims.map((v) => v.id));
    const shas = ctx.repo.distinctShas([...gone]);
    for (const v of victims) ctx.repo.deleteById(v.id);
    return { victims, kept: all.filter((b) => !gone.has(b.id)).map((b) => b.name), shas };
  });
  if (victims.length === 0) return { deleted: [], kept, blobs_deleted: 0, bytes_freed: 0 };
  const freed = collectBlobs(ctx, shas);
  return { deleted: victims.map((v) => v.name), kept, ...freed };
}

/** Deletes the given blobs that no manifest references, each check and delete under the write lock. */
export function collectBlobs(
  ctx: BackupContext,
  shas: readonly string[],
): { blobs_deleted: number; bytes_freed: number } {
  let blobsDeleted = 0;
  let bytesFreed = 0;
  for (let i = 0; i < shas.length; i += 512) {
    const slice = shas.slice(i, i + 512);
    ctx.repo.immediate(() => {
      for (const sha of slice) {
        if (ctx.repo.isReferenced(sha)) continue;
        const bytes = ctx.blobs.remove(sha);
        if (bytes > 0) blobsDeleted++;
        bytesFreed += bytes;
      }
    });
  }
  return { blobs_deleted: blobsDeleted, bytes_freed: bytesFreed };
}

/** Deletes every stored blob no manifest references (left by crashes between the two cleanup steps). */
export async function collectUnreferenced(
  ctx: BackupContext,
): Promise<{ blobs_deleted: number; bytes_freed: number }> {
  const referenced = ctx.repo.allReferencedShas();
  const unreferenced = ctx.blobs.list().filter((sha) => !referenced.has(sha));
  const total = { blobs_deleted: 0, bytes_freed: 0 };
  for (let i = 0; i < unreferenced.length; i += GC_SLICE) {
    if (i > 0) await nextTurn(); // a large sweep lets requests run between slices
    const freed = collectBlobs(ctx, unreferenced.slice(i, i + GC_SLICE));
    total.blobs_deleted += freed.blobs_deleted;
    total.bytes_freed += freed.bytes_freed;
  }
  return total;
}
