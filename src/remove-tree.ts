// Removes a folder tree the server owns (a session's folder, a rollback's old tree), including folders code in a
// box made read-only: where plain removal is refused, write permission is granted back first.
import { lstatSync } from 'node:fs';
import { chmod, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw err;
  }
  await grantWrite(dir);
  await rm(dir, { recursive: true, force: true });
}

async function grantWrite(dir: string): Promise<void> {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st || !st.isDirectory()) return;
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await grantWrite(join(dir, e.name));
  }
}
