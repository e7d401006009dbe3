// Connects the host to a Unix socket inside a folder the box can write to. The box could plant a symlink there that
// the host's connect() would follow to any host socket, so the path is opened with O_PATH|O_NOFOLLOW, checked to be
// a socket, and connected through /proc/self/fd/N (which also lifts sun_path's 108-byte limit). Never follows a
// symlink and never opens anything for reading or writing.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { SandboxError } from '../errors.js';

// Not in fs.constants; this is its value on x86-64 and arm64 Linux.
const O_PATH = 0o10000000;

export interface PinnedSocket {
  /** Connect to this path; it names the checked inode, whatever happens to the original path afterwards. */
  path: string;
  release(): void;
}

/** Throws a SandboxError when the path is missing or is not a socket (a symlink included). */
export function pinSocket(socketPath: string): PinnedSocket {
  let fd: number;
  try {
    fd = openSync(socketPath, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    throw new SandboxError(
      'internal',
      `the app's socket is not there (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  let open = true;
  const release = () => {
    if (open) closeSync(fd);
    open = false;
  };
  if (!fstatSync(fd).isSocket()) {
    release();
    throw new SandboxError(
      'policy_denied',
      "the app's socket path was replaced by something that is not a socket",
    );
  }
  return { path: `/proc/self/fd/${fd}`, release };
}
