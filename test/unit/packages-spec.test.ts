// Unit tests for install_package spec validation: names, extras, specifiers, and what is refused.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { normalizeName, parsePackageSpec } from '../../src/packages/spec.js';

const refused = (pkg: string, version?: string, allowUrls = false): string => {
  try {
    parsePackageSpec(pkg, version, allowUrls);
  } catch (e) {
    return e instanceof SandboxError ? e.code : 'other';
  }
  return 'accepted';
};

describe('parsePackageSpec', () => {
  it('accepts names, extras and specifiers, and normalizes what pip is given', () => {
    expect(parsePackageSpec('requests', undefined, false)).toEqual({
      requirement: 'requests',
      name: 'requests',
      kind: 'name',
      urlHost: null,
    });
    expect(parsePackageSpec('Pandas[excel, performance] >= 2.0 , <3', undefined, false).requirement).toBe(
      'Pandas[excel,performance]>=2.0,<3',
    );
    expect(parsePackageSpec('numpy', '1.26.4', false).requirement).toBe('numpy==1.26.4');
    expect(parsePackageSpec('numpy', '~=1.26', false).requirement).toBe('numpy~=1.26');
    expect(parsePackageSpec('numpy', '==1.*', false).requirement).toBe('numpy==1.*');
    expect(parsePackageSpec('zope.interface', undefined, false).name).toBe('zope-interface');
    expect(normalizeName('Sbx_Demo.Pkg')).toBe('sbx-demo-pkg');
  });

  it('refuses pip options, URLs, paths, markers and odd characters', () => {
    for (const bad of [
      '-e .',
      '--index-url x',
      '-r requirements.txt',
      'https://example.invalid/a.whl',
      'git+https://example.invalid/a.git',
      'pkg @ https://example.invalid/a.whl',
      './a.whl',
      '/tmp/a.whl',
      'a.whl',
      'numpy; python_version > "3"',
      'numpy[a b]',
      'numpy[$x]',
      'numpy pandas',
      'numpy==1.0 --pre',
      'num$py',
      '',
      'x\n-e .',
    ]) {
      expect(refused(bad), JSON.stringify(bad)).toBe('invalid_argument');
    }
  });

  it('refuses bad versions and a version given twice', () => {
    expect(refused('numpy', '--pre')).toBe('invalid_argument');
    expect(refused('numpy', 'latest')).toBe('invalid_argument');
    expect(refused('numpy', '>=1.*')).toBe('invalid_argument');
    expect(refused('numpy==1', '2')).toBe('invalid_argument');
  });

  it('says how to allow URLs when it refuses one', () => {
    try {
      parsePackageSpec('https://example.invalid/a.whl', undefined, false);
    } catch (e) {
      expect((e as SandboxError).hint).toMatch(/--allow-package-urls/);
    }
    expect.assertions(1);
  });

  it('with --allow-package-urls takes http(s) URLs and workspace paths, never options', () => {
    expect(parsePackageSpec('https://example.invalid/a-1.0-py3-none-any.whl', undefined, true)).toMatchObject(
      {
        kind: 'url',
        urlHost: 'example.invalid',
      },
    );
    expect(parsePackageSpec('demo @ https://example.invalid/a.whl', undefined, true)).toMatchObject({
      requirement: 'demo @ https://example.invalid/a.whl',
      name: 'demo',
    });
    expect(parsePackageSpec('dist/a.whl', undefined, true).requirement).toBe('/workspace/dist/a.whl');
    expect(refused('../etc/a.whl', undefined, true)).toBe('invalid_argument');
    expect(refused('/etc/a.whl', undefined, true)).toBe('invalid_argument');
    expect(refused('file:///etc/passwd', undefined, true)).toBe('invalid_argument');
    expect(refused('-e .', undefined, true)).toBe('invalid_argument');
  });
});
