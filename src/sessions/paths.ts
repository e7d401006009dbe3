// Where a session's files live on the host: its workspace (bound at /workspace) and its matplotlib cache.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

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
