// Unit tests for planning an install from the host's index settings: flags, binds, hosts, redaction.
import { describe, expect, it } from 'vitest';
import type { HostPipConfig } from '../../src/packages/pip-config.js';
import { planInstall, redactUrl } from '../../src/packages/plan.js';
import { parsePackageSpec } from '../../src/packages/spec.js';

const base: HostPipConfig = {
  indexUrl: null,
  extraIndexUrls: [],
  findLinks: [],
  trustedHosts: [],
  noIndex: false,
  cert: null,
  sources: [],
};
const dirs = new Set(['/opt/pypi/simple', '/opt/pypi', '/srv/wheels', '/usr/share/wheels']);
const plan = (cfg: Partial<HostPipConfig>, uv: string | null = null, pkg = 'demo') =>
  planInstall({
    config: { ...base, ...cfg },
    spec: parsePackageSpec(pkg, undefined, true),
    venvPython: '/workspace/.venv/bin/python',
    uv,
    isolation: 'bwrap',
    pathKind: (p) => (dirs.has(p) ? 'dir' : null),
  });

describe('planInstall', () => {
  it('uses PyPI by default and opens its index and file hosts only', () => {
    const p = plan({});
    expect(p.networkRules).toEqual(['files.pythonhosted.org', 'pypi.org']);
    expect(p.argv.slice(0, 5)).toEqual(['/workspace/.venv/bin/python', '-I', '-m', 'pip', 'install']);
    expect(p.argv.slice(-4)).toEqual(['--index-url', 'https://pypi.org/simple', '--', 'demo']);
    expect(p.roBinds).toEqual([]);
  });

  it('binds local indexes read-only at their own path and needs no network for them', () => {
    const p = plan({
      noIndex: true,
      findLinks: ['/srv/wheels', '/usr/share/wheels', '/missing'],
      extraIndexUrls: ['file:///opt/pypi/simple'],
    });
    expect(p.networkRules).toEqual([]);
    expect(p.roBinds).toEqual([{ host: '/srv/wheels', box: '/srv/wheels' }]);
    expect(p.argv).toContain('--no-index');
    expect(p.argv).not.toContain('--extra-index-url');
    expect(p.warnings.join('\n')).toMatch(/\/missing does not exist/);
    const file = plan({ indexUrl: 'file:///opt/pypi/simple' });
    // The folder above simple/ holds the files its pages link to.
    expect(file.roBinds).toEqual([{ host: '/opt/pypi', box: '/opt/pypi' }]);
    expect(file.networkRules).toEqual([]);
  });

  it("never binds over the sandbox's own paths", () => {
    dirs.add('/workspace/w');
    dirs.add('/etc/wheels');
    dirs.add('/');
    const p = plan({ noIndex: true, findLinks: ['/workspace/w', '/etc/wheels', '/'] });
    expect(p.roBinds).toEqual([]);
    expect(p.warnings).toHaveLength(3);
  });

  it('opens the hosts of a private index and a URL spec, and hides credentials in the summary', () => {
    const p = plan(
      { indexUrl: 'https://user:s3cret@pkgs.example/simple', trustedHosts: ['pkgs.example'] },
      null,
      'https://dl.example/a.whl',
    );
    expect(p.networkRules).toEqual(['dl.example', 'pkgs.example']);
    expect(p.index.index_url).toBe('https://***@pkgs.example/simple');
    expect(p.argv).toContain('https://user:s3cret@pkgs.example/simple');
    expect(p.argv).toEqual(expect.arrayContaining(['--trusted-host', 'pkgs.example']));
    expect(redactUrl('/plain/path')).toBe('/plain/path');
  });

  it('builds a uv command when uv is available', () => {
    const p = plan({ trustedHosts: ['h.example'], cert: '/etc/ssl/certs/ca.pem' }, '/usr/bin/uv');
    expect(p.installer).toBe('uv');
    expect(p.argv.slice(0, 5)).toEqual([
      '/usr/bin/uv',
      'pip',
      'install',
      '--python',
      '/workspace/.venv/bin/python',
    ]);
    expect(p.argv).toEqual(expect.arrayContaining(['--allow-insecure-host', 'h.example']));
    expect(p.env.SSL_CERT_FILE).toBe('/etc/ssl/certs/ca.pem');
    expect(p.argv.slice(-2)).toEqual(['--', 'demo']);
  });
});
