// The error vocabulary clients see in every tool's output schema holds only codes the server raises somewhere.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const SRC = resolve(import.meta.dirname, '../../src');

/** Every TypeScript and Python source but the file that declares the list. */
function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|py)$/.test(f) && f !== 'errors.ts')
    .map((f) => readFileSync(join(SRC, f), 'utf8'));
}

describe('ERROR_CODES', () => {
  it('names only codes that some part of the server or the box agent raises', () => {
    const text = sources().join('\n');
    const unraised = ERROR_CODES.filter((code) => !new RegExp(`['"]${code}['"]`).test(text));
    expect(unraised).toEqual([]);
  });
});
