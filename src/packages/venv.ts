// Where a session's virtualenv lives and whether a box may run on it. Reads the host filesystem only; it must never
// hand a box a Python that resolves outside /usr, since a broken or planted venv would stop the session from starting.
import { lstatSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

export const VENV_DIR = '.venv';
const BOX_WORKSPACE = '/workspace';

export interface VenvPaths {
  /** The venv folder as the box sees it. */
  boxVenv: string;
  /** Its python as the box sees it. */
  boxPython: string;
  /** Its python on the host. */
  hostPython: string;
}

export function venvPaths(hostWorkspace: string, isolation: 'bwrap' | 'none'): VenvPaths {
  const base = isolation === 'bwrap' ? BOX_WORKSPACE : hostWorkspace;
  return {
    boxVenv: join(base, VENV_DIR),
    boxPython: join(base, VENV_DIR, 'bin', 'python'),
    hostPython: join(hostWorkspace, VENV_DIR, 'bin', 'python'),
  };
}

export type VenvState = { state: 'absent' } | { state: 'usable' } | { state: 'broken'; reason: string };

/**
 * A venv is usable when pyvenv.cfg is a file and bin/python resolves to an interpreter under /usr (the box binds
 * /usr read-only at the same path, so what resolves on the host resolves the same way inside).
 */
export function venvState(hostWorkspace: string): VenvState {
  const dir = join(hostWorkspace, VENV_DIR);
  const python = join(dir, 'bin', 'python');
  try {
    lstatSync(python);
  } catch {
    return { state: 'absent' };
  }
  try {
    if (!lstatSync(join(dir, 'pyvenv.cfg')).isFile())
      return { state: 'broken', reason: 'pyvenv.cfg is not a file' };
    const real = realpathSync(python);
    if (!real.startsWith('/usr/'))
      return { state: 'broken', reason: `bin/python resolves to ${real}, outside /usr` };
    return { state: 'usable' };
  } catch (err) {
    return {
      state: 'broken',
      reason: `bin/python does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    };
  }
}
