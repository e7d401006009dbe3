// Host-side file helpers for web apps: where an app's files and relay sockets live, and checks that a caller's folder
// stays inside the workspace. Never follows a path out of the workspace and never writes outside it.
import { mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { invalidArgument } from '../errors.js';
import { sessionPaths } from '../sessions/paths.js';

/** Where the agent creates the relay sockets, inside the box. */
export const BOX_SOCKET_DIR = '/run/sandbox-sockets';

export function hostSocketDir(dataDir: string, sessionId: string): string {
  return join(sessionPaths(dataDir, sessionId).root, 'sockets');
}

/** Writes an app's code into `apps/<appId>/<file>` of the workspace; returns the workspace-relative path. */
export function writeAppFile(workspace: string, appId: string, file: string, code: string): string {
  const dir = join(workspace, 'apps', appId);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), code);
  return `apps/${appId}/${file}`;
}

/** A workspace-relative folder the caller named, checked to exist and to stay inside the workspace. */
export function workspaceFolder(workspace: string, rel: string): string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (rel.startsWith('/') || rel.includes('\0') || parts.includes('..') || parts.length === 0) {
    throw invalidArgument(
      `directory must be a folder inside the workspace, like 'site', not ${JSON.stringify(rel)}`,
      {
        directory: rel,
      },
    );
  }
  let real: string;
  try {
    real = realpathSync(join(workspace, ...parts));
  } catch {
    throw invalidArgument(`the folder '${rel}' does not exist in the workspace`, { directory: rel });
  }
  const root = realpathSync(workspace);
  if (real !== root && !real.startsWith(root + sep)) {
    throw invalidArgument(`the folder '${rel}' leads outside the workspace`, { directory: rel });
  }
  if (!statSync(real).isDirectory()) throw invalidArgument(`'${rel}' is not a folder`, { directory: rel });
  return parts.join('/');
}
