// A pure-Python wheel built offline with the system's pip (no index, no build isolation), for install tests.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds `<pkg>` 0.1.0 (its `__init__.py` is `source`: by default VALUE = 42) under work; returns the wheel's folder,
 * file name and bytes.
 */
export function buildLocalWheel(
  work: string,
  pkg: string,
  source = 'VALUE = 42\n',
): { dir: string; name: string; bytes: Buffer } {
  const src = join(work, `src-${pkg}`);
  const out = join(work, `wheels-${pkg}`);
  mkdirSync(join(src, pkg), { recursive: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(src, 'pyproject.toml'),
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n' +
      `[project]\nname = "${pkg}"\nversion = "0.1.0"\n`,
  );
  writeFileSync(join(src, pkg, '__init__.py'), source);
  execFileSync(
    '/usr/bin/python3',
    ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', out, src],
    {
      env: { PATH: '/usr/bin:/bin', HOME: work, PIP_CONFIG_FILE: '/dev/null' },
      stdio: 'pipe',
      timeout: 120_000,
    },
  );
  const name = readdirSync(out).find((f) => f.endsWith('.whl'))!;
  return { dir: out, name, bytes: readFileSync(join(out, name)) };
}
