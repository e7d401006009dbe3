// Resolves a bind source that root stages for a box one component at a time through descriptors, following only links the box could not have made, and names the folder it found (dev:ino) so the launcher can check it mounted that one.
import { closeSync, constants, fstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { invalidArgument } from '../errors.js';

/** Linux's O_PATH (the same value on every architecture Node runs on there); fs.constants does not export it. */
const O_PATH = 0o10000000;
const STEP_FLAGS = O_PATH | constants.O_NOFOLLOW;
const MAX_LINKS = 40;
const S_ISVTX = 0o1000;

function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/**
 * A link the box's uid can neither have made nor replaced: owned by root or the server, in a folder owned by root or
 * the server that nobody else may write to (or that is sticky, where only a link's owner may replace it).
 */
function trustedLink(link: Stats, folder: Stats, boxUid: number): boolean {
  const server = process.getuid?.() ?? 0;
  const trustedOwner = (uid: number) => uid !== boxUid && (uid === 0 || uid === server);
  if (!trustedOwner(link.uid) || !trustedOwner(folder.uid)) return false;
  return (folder.mode & 0o022) === 0 || (folder.mode & S_ISVTX) !== 0;
}

/**
 * The identity ("dev:ino") of the absolute `path`, resolved component by component relative to the folder already
 * open. A symbolic link is followed only when the box's uid could not have made or replaced it (root's `/var/run` →
 * `/run` is fine; a link inside a workspace is refused).
 */
export function openBindSource(path: string, boxUid: number): { identity: string; isDirectory: boolean } {
  if (!path.startsWith('/'))
    throw invalidArgument(`a bind source must be an absolute path: ${JSON.stringify(path)}`);
  const refuse = (why: string) =>
    invalidArgument(`a bind source ${why}: ${JSON.stringify(path)}`, { source: path });
  let fd = openSync('/', O_PATH | constants.O_DIRECTORY);
  const queue = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  try {
    while (queue.length > 0) {
      const name = queue.shift() as string;
      const next = openSync(at(fd, name), STEP_FLAGS);
      const st = fstatSync(next);
      if (st.isSymbolicLink()) {
        closeSync(next);
        if (!trustedLink(st, fstatSync(fd), boxUid))
          throw refuse('passes through a symbolic link the box could have made');
        if (++links > MAX_LINKS) throw refuse('has too many levels of symbolic links');
        const target = readlinkSync(at(fd, name));
        queue.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
        if (target.startsWith('/')) {
          closeSync(fd);
          fd = openSync('/', O_PATH | constants.O_DIRECTORY);
        }
        continue;
      }
      if (queue.length > 0 && !st.isDirectory()) {
        closeSync(next);
        throw refuse('has a component that is not a folder');
      }
      closeSync(fd);
      fd = next;
    }
    const st = fstatSync(fd);
    return { identity: `${st.dev}:${st.ino}`, isDirectory: st.isDirectory() };
  } finally {
    closeSync(fd);
  }
}
