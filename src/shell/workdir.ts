// Resolves shell_execute's working_directory to a folder inside the session workspace; it must never accept a path
// that leaves the workspace, by '..', by an absolute path elsewhere, or through a symbolic link.
import { statSync } from 'node:fs';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { resolveInWorkspace, toWorkspaceRel } from '../workspace/paths.js';
import { BOX_WORKSPACE } from '../sandbox/bwrap-argv.js';

export interface WorkDir {
  /** Workspace-relative posix path; '' for the workspace itself. */
  rel: string;
  /** The same folder as the command sees it. */
  boxPath: string;
}

const HINT = `give a folder relative to ${BOX_WORKSPACE} (e.g. 'src'), or an absolute path under ${BOX_WORKSPACE}`;

export function resolveWorkDir(workspace: string, requested: string | undefined): WorkDir {
  let rel = (requested ?? '').trim();
  if (rel === BOX_WORKSPACE || rel.startsWith(BOX_WORKSPACE + '/')) rel = rel.slice(BOX_WORKSPACE.length + 1);
  else if (rel.startsWith('/')) {
    throw new SandboxError(
      'invalid_argument',
      `working_directory '${requested}' is outside the workspace`,
      { working_directory: requested, reason: 'outside_workspace' },
      HINT,
    );
  }
  if (rel.split('/').includes('..')) {
    throw new SandboxError(
      'invalid_argument',
      `working_directory '${requested}' contains '..'`,
      { working_directory: requested, reason: 'parent_segment' },
      HINT,
    );
  }
  rel = rel.replace(/\/+$/, '');
  if (rel === '' || rel === '.') return { rel: '', boxPath: BOX_WORKSPACE };
  const host = resolveInWorkspace(workspace, rel, { allowDir: true });
  let isDir: boolean;
  try {
    isDir = statSync(host).isDirectory();
  } catch {
    throw notFound('folder', rel, `create it first, e.g. shell_execute("mkdir -p ${rel}")`);
  }
  if (!isDir)
    throw invalidArgument(`working_directory '${rel}' is a file, not a folder`, { working_directory: rel });
  const real = toWorkspaceRel(workspace, host);
  return { rel: real, boxPath: real ? `${BOX_WORKSPACE}/${real}` : BOX_WORKSPACE };
}
