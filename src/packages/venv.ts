// Where a session's virtualenv lives and whether a box may run on it. Reads the host filesystem only; it must never
// hand a box a Python that resolves outside /usr, since a broken or planted venv would stop the session from starting.
// The box's links are followed as the box sees them, inside the workspace only: never resolved on the host.
import { readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Dir, withDir } from '../fsafe/dir.js';

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

/** Links followed from bin/python before giving up (a venv has two: python -> python3 -> /usr/bin/python3). */
const MAX_LINKS = 8;

const NOT_USR = 'bin/python does not lead to an interpreter under /usr';

/**
 * A venv is usable when pyvenv.cfg is a file and bin/python leads to an interpreter under /usr (the box binds /usr
 * read-only at the same path, so what resolves there on the host resolves the same way inside). The folders and
 * links are the box's: they are read through descriptors and the links followed in the box's view of the workspace,
 * so a link to a host path (/proc/self/cwd, /root/…) is refused without being looked at, and no reason names one.
 */
export function venvState(hostWorkspace: string): VenvState {
  try {
    return withDir(Dir.openPath(hostWorkspace), (ws) => {
      let venv: Dir;
      try {
        venv = ws.openDir(VENV_DIR);
      } catch (err) {
        return absentOr(err, 'the .venv folder is not a plain folder');
      }
      return withDir(venv, (v) => {
        let bin: Dir;
        try {
          bin = v.openDir('bin');
        } catch (err) {
          return absentOr(err, 'the .venv/bin folder is not a plain folder');
        }
        const python = withDir(bin, (b) => b.lstat('python'));
        if (python === null) return { state: 'absent' };
        if (!v.lstat('pyvenv.cfg')?.isFile()) return { state: 'broken', reason: 'pyvenv.cfg is not a file' };
        return followToUsr(ws, [VENV_DIR, 'bin', 'python']);
      });
    });
  } catch (err) {
    return { state: 'broken', reason: `the workspace could not be read (${codeOf(err)})` };
  }
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'error';
}

function absentOr(err: unknown, reason: string): VenvState {
  return codeOf(err) === 'ENOENT' ? { state: 'absent' } : { state: 'broken', reason };
}

/** Follows the link at workspace segments `segs` as the box would, without leaving the workspace except into /usr. */
function followToUsr(ws: Dir, segs: string[]): VenvState {
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const name = segs[segs.length - 1]!;
    let target: string | null;
    try {
      target = withDir(ws.walk(segs.slice(0, -1)), (d) =>
        d.lstat(name)?.isSymbolicLink() ? readlinkSync(d.at(name), 'utf8') : null,
      );
    } catch {
      return { state: 'broken', reason: NOT_USR };
    }
    if (target === null) return { state: 'broken', reason: NOT_USR };
    const boxPath = posix.normalize(
      target.startsWith('/') ? target : posix.join(BOX_WORKSPACE, ...segs.slice(0, -1), target),
    );
    if (boxPath.startsWith('/usr/')) return usrInterpreter(boxPath);
    if (!boxPath.startsWith(`${BOX_WORKSPACE}/`)) return { state: 'broken', reason: NOT_USR };
    segs = boxPath.slice(BOX_WORKSPACE.length + 1).split('/');
  }
  return { state: 'broken', reason: 'bin/python goes through too many symbolic links' };
}

/** /usr is the host's own (bound read-only into the box): resolving a path there shows the box nothing new. */
function usrInterpreter(path: string): VenvState {
  try {
    const real = realpathSync(path);
    if (real.startsWith('/usr/') && statSync(real).isFile()) return { state: 'usable' };
  } catch {
    // missing or unreadable: not an interpreter
  }
  return { state: 'broken', reason: NOT_USR };
}
