// Backup names: validation of caller-chosen names and the default timestamp name. Pure; never touches storage.
import { invalidArgument } from '../errors.js';

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws invalid_argument unless name is 1–64 letters, digits, '-' or '_' (so it is safe in any path or URI). */
export function validateBackupName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    const shown =
      typeof name === 'string'
        ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)
        : typeof name;
    throw invalidArgument(`invalid backup name ${shown}: use 1-64 letters, digits, '-' or '_'`, {
      field: 'name',
      length: typeof name === 'string' ? name.length : null,
    });
  }
  return name;
}

/** `backup_20261128T035512Z` for the given instant (UTC, second precision). */
export function defaultBackupName(at: Date): string {
  const iso = at.toISOString(); // 2026-11-28T03:55:12.345Z
  return `backup_${iso.slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** The base name, or base_2, base_3… whichever is not in taken. */
export function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base}_${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}
