// Where a session's files live on the host: its workspace (bound at /workspace) and its matplotlib cache.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HOST_TEMP_NAME } from '../artifacts/file-io.js';

export interface SessionPaths {
  root: string;
  workspace: string;
  mplConfigDir: string;
}

export function sessionPaths(dataDir: string, id: string): SessionPaths {
  const root = join(dataDir, 'sessions', id);
  return { root, workspace: join(root, 'workspace'), mplConfigDir: join(root, 'mplconfig') };
}

/** Creates the folders; seeds matplotlib's font cache from the shared seed so the first import is fast. */
export function ensureSessionDirs(paths: SessionPaths, mplSeedDir: string | null): void {
  mkdirSync(paths.workspace, { recursive: true, mode: 0o755 });
  if (!existsSync(paths.mplConfigDir)) {
    mkdirSync(paths.mplConfigDir, { recursive: true });
    if (mplSeedDir && existsSync(mplSeedDir)) cpSync(mplSeedDir, paths.mplConfigDir, { recursive: true });
  }
}

/**
 * Removes the temp files of long outputs a previous server process was still saving when it died (they can be as
 * large as the box's file-size limit). Only files older than `before`, so a save in progress is never touched.
 */
export async function removeStaleOutputTemps(workspace: string, before: number): Promise<number> {
  const dir = join(workspace, '.sandbox', 'outputs');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!HOST_TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile() || st.mtimeMs >= before) continue;
    if (
      await unlink(path).then(
        () => true,
        () => false,
      )
    )
      removed++;
  }
  return removed;
}
