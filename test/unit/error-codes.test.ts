// The error vocabulary clients see in every tool's output schema holds only codes the server raises somewhere.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const SRC = resolve(import.meta.dirname, '../../src');

/** Every TypeScript and Python source (errors.ts too: its helpers raise codes by name). */
function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|py)$/.test(f))
    .map((f) => readFileSync(join(SRC, f), 'utf8'));
}

/**
 * Where a code is raised, not merely named (a status enum or a description names `timeout` too): a SandboxError made
 * with it, or an error object or dict whose `code` is set to it.
 */
function raisedIn(text: string, code: string): boolean {
  const q = `['"]${code}['"]`;
  return new RegExp(`SandboxError\\(\\s*${q}|\\bcode['"]?\\s*:\\s*${q}|\\[['"]code['"]\\]\\s*=\\s*${q}`).test(
    text,
  );
}

describe('ERROR_CODES', () => {
  it('names only codes that some part of the server or the box agent raises', () => {
    expect(raisedIn("throw new SandboxError('timeout', 'x')", 'timeout')).toBe(true);
    expect(raisedIn("status: z.enum(['ok', 'timeout'])", 'timeout')).toBe(false);
    const text = sources().join('\n');
    const unraised = ERROR_CODES.filter((code) => !raisedIn(text, code));
    expect(unraised).toEqual([]);
  });
});
