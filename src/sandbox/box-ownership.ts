// Gives the folders a box writes (workspace, matplotlib cache, sockets) to a root server's box uid before the box starts, walking them through folder descriptors so no link, nor a folder swapped for one, is ever followed.
import { fchownSync, lchownSync } from 'node:fs';
import { boxOwner, serverIsRoot } from '../box-user.js';
import { Dir, withDir } from '../fsafe/dir.js';

function chownBelow(dir: Dir, uid: number, gid: number): void {
  for (const name of dir.list()) {
    try {
      const st = dir.lstat(name);
      if (!st) continue;
      if (st.isDirectory()) {
        withDir(dir.openDir(name), (child) => {
          fchownSync(child.fd, uid, gid);
          chownBelow(child, uid, gid);
        });
      } else {
        // lchown of /proc/self/fd/N/name: the last component is never followed
        lchownSync(dir.at(name), uid, gid);
      }
    } catch {
      // an entry that cannot be given away (gone meanwhile, swapped for a link) stays as it is: the box can still read it
    }
  }
}

/**
 * A folder already owned by the box uid is left alone (its tree was given away when it was made); any other is given
 * to it with everything below. A path that is not a folder (or is a link) is left alone.
 */
export function ensureBoxOwnership(paths: readonly string[]): void {
  if (!serverIsRoot()) return;
  const { uid, gid } = boxOwner();
  for (const path of paths) {
    let dir: Dir;
    try {
      dir = Dir.openPath(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'ELOOP') continue;
      throw err;
    }
    withDir(dir, (d) => {
      const st = d.stat();
      if (st.uid === BigInt(uid) && st.gid === BigInt(gid)) return;
      fchownSync(d.fd, uid, gid);
      chownBelow(d, uid, gid);
    });
  }
}
