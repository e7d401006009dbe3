// Pure: export names — validated (never a path), and a default one when the caller gives none.
import { invalidArgument } from '../errors.js';
import type { AppType } from './types.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The name itself, or invalid_argument: letters, digits, '-' and '_', at most 64; never '..' or '/'. */
export function validateExportName(name: string): string {
  if (name.includes('..') || name.includes('/') || name.includes('\\')) {
    throw invalidArgument(`export name ${JSON.stringify(name)} must not contain '..', '/' or '\\'`, {
      export_name: name,
    });
  }
  if (!NAME.test(name)) {
    throw invalidArgument(`export name ${JSON.stringify(name)} must be 1 to 64 letters, digits, '-' or '_'`, {
      export_name: name,
    });
  }
  return name;
}

export function defaultExportName(type: AppType, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${type}-app-${stamp}`;
}
