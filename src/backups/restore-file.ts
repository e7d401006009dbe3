// Restoring one file or symlink of a backup into the workspace, replaced by rename within its folder so nothing the
// box swaps meanwhile redirects the write.
import { randomBytes } from 'node:crypto';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { workspaceSegments } from '../workspace/paths.js';
import { Dir, withDir, workspaceOwner } from '../fsafe/dir.js';
import { getBackup, workspaceReal, type BackupContext } from './context.js';
import { materializeFile, materializeSymlink } from './stage.js';
import type { RestoreFileResult } from './types.js';

export async function restoreFile(
  ctx: BackupContext,
  sessionId: string,
  name: string,
  path: string,
  workspace: string,
): Promise<RestoreFileResult> {
  const b = getBackup(ctx, sessionId, name);
  const segments = workspaceSegments(path);
  if (segments.length === 0)
    throw invalidArgument('give the path of a file, not the workspace itself', { path });
  const rel = segments.join('/');
  const row = ctx.repo.file(b.id, rel);
  if (!row) throw notFound('file', rel, `get_backup_details lists the files in backup '${name}'`);
  if (row.kind === 'dir')
    throw invalidArgument(
      `'${rel}' is a folder in backup '${name}'; restore its files one by one or roll back`,
    );
  const wsReal = workspaceReal(workspace);
  const parentRel = segments.slice(0, -1).join('/');
  const last = segments[segments.length - 1]!;
  // Folders are opened (or made) one by one relative to their parent, never through a symlink; the entry itself
  // is replaced by rename within its folder's descriptor, so nothing the box swaps meanwhile redirects it.
  const dir = withDir(Dir.openPath(wsReal, workspaceOwner()), (root) => {
    try {
      return root.walk(segments.slice(0, -1), { create: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'EEXIST') {
        throw invalidArgument(`cannot restore '${rel}': '${parentRel}' is not a folder`, { path: rel });
      }
      throw err;
    }
  });
  const tmp = `.${last}.restore-${randomBytes(6).toString('hex')}`;
  try {
    if (dir.lstat(last)?.isDirectory()) {
      throw invalidArgument(`cannot restore '${rel}': a folder with that name is in the workspace`, {
        path: rel,
      });
    }
    if (row.kind === 'symlink') {
      materializeSymlink(row.target ?? '', dir.at(tmp) as string, row.mtime_ms, dir.owner);
    } else {
      const res = await ctx.scratch.with((buf) =>
        materializeFile(
          ctx.blobs,
          row.sha256 ?? '',
          dir.at(tmp) as string,
          row.mode,
          row.mtime_ms,
          true,
          buf,
          dir.owner,
        ),
      );
      if (res !== 'ok') {
        throw new SandboxError('internal', `the stored copy of '${rel}' in backup '${name}' is ${res}`, {
          backup: name,
          path: rel,
          problem: res,
        });
      }
    }
    dir.rename(tmp, dir, last);
    dir.sync();
  } catch (err) {
    try {
      dir.unlink(tmp);
    } catch {
      // never created or already renamed
    }
    throw err;
  } finally {
    dir.close();
  }
  return { path: rel, kind: row.kind, size: row.size, sha256: row.sha256 };
}
