// The packages reports' checks: each field validated, a bad package entry costs only itself, a bad shape an error.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import {
  checkedInstallReport,
  checkedInstalled,
  checkedListReport,
  checkedPackages,
} from '../../src/packages/report-check.js';

const good = { name: 'numpy', version: '1.24.2', source: 'system' };

describe('packages report checks', () => {
  it('keeps the valid entries of a listing and names the others in one warning', () => {
    const r = checkedPackages([
      good,
      { name: 'noversion', version: null, source: 'venv' },
      { name: 'odd', version: '1', source: 'elsewhere' },
      'not an object',
      { name: 'x'.repeat(500), version: 3, source: 'venv' },
    ]);
    expect(r.packages).toEqual([good]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^4 distribution\(s\)/);
    expect(r.warnings[0]).toContain('"noversion" (version:');
    expect(r.warnings[0]).toContain('"odd" (source:');
    expect(r.warnings[0]).toContain('entry 3');
    expect(r.warnings[0]).not.toContain('x'.repeat(81));
  });

  it('names at most five left-out entries and counts the rest', () => {
    const bad = Array.from({ length: 8 }, (_, i) => ({ name: `b${i}`, version: 1, source: 'venv' }));
    const [w] = checkedPackages(bad).warnings;
    expect(w).toContain('"b4"');
    expect(w).not.toContain('"b5"');
    expect(w).toContain('and 3 more');
  });

  it('strips fields a package entry should not have', () => {
    expect(checkedPackages([{ ...good, extra: 'x'.repeat(10) }]).packages).toEqual([good]);
  });

  it('leaves an invalid installed distribution empty with a warning, and passes a valid or absent one', () => {
    expect(checkedInstalled(good)).toEqual({ installed: good, warnings: [] });
    expect(checkedInstalled(null)).toEqual({ installed: null, warnings: [] });
    const bad = checkedInstalled({ name: 'sbx', version: 7, source: 'venv' });
    expect(bad.installed).toBeNull();
    expect(bad.warnings[0]).toMatch(/installed distribution's metadata is not valid \("sbx", version:/);
  });

  it('refuses an install report of another shape', () => {
    const ok = { exit_code: 0, stage: 'install', venv_created: true, installed: null };
    expect(checkedInstallReport(ok)).toEqual(ok);
    expect(checkedInstallReport(null)).toBeNull();
    expect(checkedInstallReport({ ...ok, exit_code: '0' })).toBeNull();
    expect(checkedInstallReport({ ...ok, stage: 'x'.repeat(100) })).toBeNull();
  });

  it('answers a listing report of another shape with a runtime_error naming the problem', () => {
    const ok = { python: '/usr/bin/python3', version: '3.11.2', venv: null, packages: [good] };
    expect(checkedListReport(ok, '')).toEqual(ok);
    let err: unknown;
    try {
      checkedListReport({ ...ok, python: 1, packages: 'all' }, 'out');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('runtime_error');
    expect((err as SandboxError).message).toMatch(/report is not valid \(python:/);
    expect((err as SandboxError).details).toMatchObject({ output: 'out' });
  });
});
