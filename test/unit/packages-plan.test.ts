// Unit tests for reading the host's pip configuration and planning an install: flags, binds, hosts, redaction.
import { describe, expect, it } from 'vitest';
import {
  mergePipConfig,
  parseIni,
  pipConfigFiles,
  type HostPipConfig,
} from '../../src/packages/pip-config.js';
import { planInstall, redactUrl } from '../../src/packages/plan.js';
import { parsePackageSpec } from '../../src/packages/spec.js';

describe('host pip configuration', () => {
  it('parses pip.conf with continuation lines and comments', () => {
    const ini = parseIni(
      '[global]\n# c\nextra-index-url =\n  https://a.example/simple\n  https://b.example/simple\nfind_links: /w\n',
    );
    expect(ini.get('global')?.get('extra-index-url')).toBe(
      'https://a.example/simple\nhttps://b.example/simple',
    );
    expect(ini.get('global')?.get('find-links')).toBe('/w');
  });

  it('lets later files, [install] and then PIP_* variables win', () => {
    const cfg = mergePipConfig(
      [
        {
          path: '/etc/pip.conf',
          text: '[global]\nindex-url = https://one.example/simple\ntrusted-host = one.example\n',
        },
        {
          path: '/home/u/.config/pip/pip.conf',
          text: '[global]\nindex-url = https://two.example/simple\n[install]\nfind-links = /w1 /w2\n',
        },
      ],
      {
        PIP_EXTRA_INDEX_URL: 'https://x.example/simple https://y.example/simple',
        PIP_NO_INDEX: 'false',
        PIP_CERT: '/etc/ssl/certs/ca.pem',
      },
    );
    expect(cfg).toMatchObject({
      indexUrl: 'https://two.example/simple',
      extraIndexUrls: ['https://x.example/simple', 'https://y.example/simple'],
      findLinks: ['/w1', '/w2'],
      trustedHosts: ['one.example'],
      noIndex: false,
      cert: '/etc/ssl/certs/ca.pem',
    });
    expect(cfg.sources).toContain('PIP_EXTRA_INDEX_URL');
  });

  it("follows pip's file order, and PIP_CONFIG_FILE=/dev/null reads no file at all", () => {
    const files = pipConfigFiles({ HOME: '/h' }, '/usr');
    expect(files).toEqual([
      '/etc/xdg/pip/pip.conf',
      '/etc/pip.conf',
      '/h/.pip/pip.conf',
      '/h/.config/pip/pip.conf',
      '/usr/pip.conf',
    ]);
    expect(pipConfigFiles({ HOME: '/h', PIP_CONFIG_FILE: '/dev/null' }, '/usr')).toEqual([]);
  });
});

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
