// Host-side file helpers for web apps: where an app's files and relay sockets live, writing and reading an app's
// source, and checks that a caller's folder stays inside the workspace. Never follows a path out of the workspace.
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readHead, UnsafeFileError, writeAtomic } from '../workspace/file-io.js';
import { invalidArgument, notFound, SandboxError } from '../errors.js';
import { resolveInWorkspace, toWorkspaceRel, workspaceSegments } from '../workspace/paths.js';
import { sessionPaths } from '../sessions/paths.js';

/** Where the agent creates the relay sockets, inside the box. */
export const BOX_SOCKET_DIR = '/run/sandbox-sockets';

export function hostSocketDir(dataDir: string, sessionId: string): string {
  return join(sessionPaths(dataDir, sessionId).root, 'sockets');
}

/** Writes an app's code into `apps/<appId>/<file>` of the workspace; returns the workspace-relative path. */
export async function writeAppFile(
  workspace: string,
  appId: string,
  file: string,
  code: string,
): Promise<string> {
  const rel = `apps/${appId}/${file}`;
  const root = realpathSync(workspace);
  await writeAtomic(resolveInWorkspace(root, rel), root, Buffer.from(code, 'utf8'));
  return rel;
}

/** A workspace-relative folder the caller named, checked to exist and to stay inside the workspace. */
export function workspaceFolder(workspace: string, rel: string): string {
  const notInside = () =>
    invalidArgument(
      `directory must be a folder inside the workspace, like 'site', not ${JSON.stringify(rel)}`,
      {
        directory: rel,
      },
    );
  if (workspaceSegments(rel).length === 0) throw notInside();
  let abs: string;
  try {
    abs = resolveInWorkspace(workspace, rel, { mustExist: true, allowDir: true });
  } catch (err) {
    if (err instanceof SandboxError && err.code === 'not_found') {
      throw invalidArgument(`the folder '${rel}' does not exist in the workspace`, { directory: rel });
    }
    throw err;
  }
  if (!statSync(abs).isDirectory()) throw invalidArgument(`'${rel}' is not a folder`, { directory: rel });
  const resolved = toWorkspaceRel(workspace, abs);
  if (resolved === '') throw notInside();
  return resolved;
}

/** The real host path of an existing file or folder inside the workspace, or null when it is missing or leads out. */
export function existingInWorkspace(workspace: string, rel: string): string | null {
  try {
    return resolveInWorkspace(workspace, rel, { mustExist: true, allowDir: true });
  } catch {
    return null;
  }
}

/**
 * An app's source file as text. Opened without following a final symlink or waiting on a FIFO, and only
 * when it is a regular file inside the workspace, so a file swapped by code in the box cannot stall the server.
 */
export async function readAppFile(workspace: string, rel: string, maxBytes: number): Promise<string> {
  const gone = () => notFound('app file', rel, 'the app file was removed from the workspace');
  let abs: string;
  try {
    abs = resolveInWorkspace(workspace, rel, { mustExist: true });
  } catch (err) {
    if (err instanceof SandboxError && err.code === 'not_found') throw gone();
    throw err;
  }
  let read: Awaited<ReturnType<typeof readHead>>;
  try {
    read = await readHead(abs, realpathSync(workspace), maxBytes);
  } catch (err) {
    if (err instanceof UnsafeFileError) {
      throw invalidArgument(`the app file '${rel}' is not a regular file inside the workspace`, {
        path: rel,
        reason: err.reason,
      });
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw gone();
    throw err;
  }
  if (!read.complete) {
    throw invalidArgument(`the app file ${rel} is larger than ${maxBytes / 1024 / 1024} MB`, { path: rel });
  }
  return Buffer.from(read.head).toString('utf8');
}
