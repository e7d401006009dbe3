// Shared by the sparse-file attacks: Python that makes sparse files in the box, and the disk a host folder really uses.
import { execFileSync } from 'node:child_process';

export const GIB = 1024 * 1024 * 1024;
export const MIB = 1024 * 1024;

/** Python making each file (workspace-relative path: size) sparse: a hole, then its last byte set to 1. */
export function makeSparse(files: Record<string, number>): string {
  return [
    'import os',
    `for path, size in ${JSON.stringify(Object.entries(files))}:`,
    '    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)',
    "    with open(path, 'wb') as f:",
    '        f.truncate(size - 1); f.seek(0, 2); f.write(b"\\x01")',
  ].join('\n');
}

/** Bytes of disk a host folder takes (du: allocated blocks, not apparent sizes). */
export function diskUsage(dir: string): number {
  return Number(execFileSync('du', ['-s', '-B1', dir]).toString().split('\t')[0]);
}

/** Runs `work` while timing a list_sessions call every 100 ms; returns its result and the slowest answer, in ms. */
export async function withProbe<T>(
  probe: () => Promise<unknown>,
  work: Promise<T>,
): Promise<{ value: T; worstMs: number }> {
  let done = false;
  let worstMs = 0;
  const loop = (async () => {
    while (!done) {
      const t = performance.now();
      await probe();
      worstMs = Math.max(worstMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { value: await work, worstMs };
  } finally {
    done = true;
    await loop;
  }
}
