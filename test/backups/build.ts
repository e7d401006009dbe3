// Compiles the backups closure for the crash tests' child processes into a private per-run folder under node_modules/.cache (so package imports resolve); never writes to src/ or dist/.
import { execFileSync } from 'node:child_process';
import { rmSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * A private build rather than dist/: dist/ may be rebuilt by anyone at any moment, and a child loading a
 * half-written module would fail for reasons that have nothing to do with crash safety.
 */
export function compileBackups(): { root: string; dispose: () => void } {
  const out = join(ROOT, 'node_modules', '.cache', 'sandbox-mcp-backups-test', String(process.pid));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      '--ignoreConfig',
      '--outDir',
      out,
      '--rootDir',
      ROOT,
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--target',
      'ES2022',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
      join(ROOT, 'src', 'backups', 'service.ts'),
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  const dispose = (): void => {
    rmSync(out, { recursive: true, force: true });
    try {
      rmdirSync(dirname(out)); // only when no other run is using it
    } catch {
      // another run's build is still there
    }
  };
  return { root: out, dispose };
}
