// Where a session's files live on the host: its workspace (bound at /workspace) and its matplotlib cache.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_TEMP_NAME } from '../workspace/file-io.js';
import { Dir, withDir } from '../fsafe/dir.js';

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
 * large as the box's file-size limit). Only files older than `before`, so a save in progress is never touched. The
 * folder is reached through descriptors, so a `.sandbox` or `outputs` the box replaced with a symlink is not followed.
 */
export async function removeStaleOutputTemps(workspace: string, before: number): Promise<number> {
  let dir: Dir;
  try {
    dir = withDir(Dir.openPath(workspace), (root) => root.walk(['.sandbox', 'outputs']));
  } catch {
    return 0;
  }
  let removed = 0;
  try {
    for (const name of dir.names()) {
      if (!HOST_TEMP_NAME.test(name)) continue;
      try {
        const st = dir.lstat(name);
        if (!st?.isFile() || Number(st.mtimeMs) >= before) continue;
        dir.unlink(name);
        removed++;
      } catch {
        // gone meanwhile
      }
    }
  } finally {
    dir.close();
  }
  return removed;
}

/** A relay socket the agent makes for a web app (`sockets/app-<hex>.sock` beside the workspace). */
const APP_SOCKET_NAME = /^app-[0-9a-f]{1,64}\.sock$/;

/** Removes app relay sockets older than `before` from the session's sockets folder (through its descriptor). */
export function removeStaleAppSockets(root: string, before: number): number {
  let dir: Dir;
  try {
    dir = Dir.openPath(join(root, 'sockets'));
  } catch {
    return 0;
  }
  return withDir(dir, (d) => {
    let removed = 0;
    for (const name of d.names()) {
      if (!APP_SOCKET_NAME.test(name)) continue;
      const st = d.lstat(name);
      if (!st?.isSocket() || Number(st.mtimeMs) >= before) continue;
      try {
        d.unlink(name);
        removed++;
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  });
}

/**
 * Keeps the newest `r.keep` saved outputs (`.sandbox/outputs/*.txt`) younger than `r.maxAgeMs` and removes the rest,
 * through folder descriptors.
 */
export function rotateSavedOutputs(
  workspace: string,
  r: { keep: number; maxAgeMs: number },
  now = Date.now(),
): { removed: number; bytes: number } {
  const out = { removed: 0, bytes: 0 };
  let dir: Dir;
  try {
    dir = withDir(Dir.openPath(workspace), (w) => w.walk(['.sandbox', 'outputs']));
  } catch {
    return out;
  }
  return withDir(dir, (d) => {
    const files: Array<{ name: string; mtime: number; size: number }> = [];
    for (const name of d.names()) {
      if (!name.endsWith('.txt') || HOST_TEMP_NAME.test(name)) continue;
      const st = d.lstat(name);
      if (st?.isFile()) files.push({ name, mtime: Number(st.mtimeMs), size: Number(st.size) });
    }
    files.sort((a, b) => b.mtime - a.mtime || b.name.localeCompare(a.name, 'en', { numeric: true }));
    for (const [i, f] of files.entries()) {
      if (i < r.keep && now - f.mtime <= r.maxAgeMs) continue;
      try {
        d.unlink(f.name);
        out.removed++;
        out.bytes += f.size;
      } catch {
        // gone meanwhile
      }
    }
    return out;
  });
}
