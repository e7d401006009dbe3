// Unit tests for backup names: what a caller may name a backup, and the default timestamp names.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { defaultBackupName, uniqueName, validateBackupName } from '../../src/backups/names.js';

describe('validateBackupName', () => {
  it('accepts letters, digits, dash and underscore up to 64 characters', () => {
    for (const ok of ['a', 'v1', 'before-cleanup_2', 'A'.repeat(64), '0'])
      expect(validateBackupName(ok)).toBe(ok);
  });

  it('refuses everything else as invalid_argument', () => {
    for (const bad of [
      '',
      '../x',
      'a/b',
      'x'.repeat(65),
      'x'.repeat(1000),
      'a\0b',
      'with space',
      'é',
      '.',
      'a.b',
      42,
      null,
    ]) {
      let caught: unknown;
      try {
        validateBackupName(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, String(bad)).toBeInstanceOf(SandboxError);
      expect((caught as SandboxError).code).toBe('invalid_argument');
    }
  });

  it('keeps a 1,000-character name out of the error message', () => {
    let caught: unknown;
    try {
      validateBackupName('y'.repeat(1000));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SandboxError);
    expect((caught as SandboxError).message.length).toBeLessThan(200);
    expect((caught as SandboxError).details).toMatchObject({ length: 1000 });
  });
});

describe('default names', () => {
  it('is backup_ plus the UTC timestamp to the second', () => {
    expect(defaultBackupName(new Date('2026-11-28T03:55:12.999Z'))).toBe('backup_20261128T035512Z');
  });

  it('adds a counter when the name is taken', () => {
    expect(uniqueName('b', new Set())).toBe('b');
    expect(uniqueName('b', new Set(['b', 'b_2']))).toBe('b_3');
  });
});
