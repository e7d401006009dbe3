// Makes freshly written files and folders durable with few device flushes; must never return before the data is on stable storage.

// One syncfs(2) covers a large batch (Node has no binding for it, so coreutils `sync -f` runs it); small batches, or
// machines without `sync -f`, get an fsync per path.
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { forEachLimit } from '../for-each-limit.js';

/** Below this many paths, fsyncing each is cheaper than flushing the whole filesystem. */
const SYNCFS_MIN_PATHS = 32;
let syncfsWorks: boolean | null = null;

function runSyncfs(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
    child.on('error', () => resolvePromise(false));
    child.on('exit', (code) => resolvePromise(code === 0));
  });
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether `count` items are flushed with one syncfs rather than an fsync each (where syncfs has not failed). */
export function wantsSyncfs(count: number): boolean {
  return count >= SYNCFS_MIN_PATHS && syncfsWorks !== false;
}

/** One syncfs of the filesystem holding `anchor`; false when it could not run (then fsync each item instead). */
export async function syncfs(anchor: string): Promise<boolean> {
  if (syncfsWorks === false) return false;
  const ok = await runSyncfs(anchor);
  syncfsWorks = ok;
  return ok;
}

/**
 * Flushes `files` and `dirs` (all on the filesystem holding `anchor`). syncfs also flushes other dirty data
 * on that filesystem, which is why small batches take the per-file path.
 */
export async function makeDurable(
  files: readonly string[],
  dirs: Iterable<string>,
  anchor: string,
  concurrency = 8,
): Promise<void> {
  const dirList = [...dirs];
  if (files.length + dirList.length === 0) return;
  if (wantsSyncfs(files.length + dirList.length) && (await syncfs(anchor))) return;
  await forEachLimit(files, concurrency, fsyncPath);
  await forEachLimit(dirList, concurrency, fsyncPath);
}
