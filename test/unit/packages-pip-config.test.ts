// Tests of reading the host's index settings by asking the host's pip, with config files and variables of the test's own.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigList, readHostPipConfig } from '../../src/packages/pip-config.js';

const PYTHON = '/usr/bin/python3';
const root = mkdtempSync(join(tmpdir(), 'pip-config-'));
let n = 0;

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A HOME with a user pip.conf and an XDG_CONFIG_DIRS with a global-level one; no PIP_* from the test's own environment. */
function hostWith(
  files: { xdg?: string; user?: string },
  vars: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const dir = join(root, String(n++));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.config', 'pip'), { recursive: true });
  mkdirSync(join(dir, 'xdg', 'pip'), { recursive: true });
  if (files.user !== undefined) writeFileSync(join(home, '.config', 'pip', 'pip.conf'), files.user);
  if (files.xdg !== undefined) writeFileSync(join(dir, 'xdg', 'pip', 'pip.conf'), files.xdg);
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_DIRS: join(dir, 'xdg'),
    ...vars,
  };
}

const userFile = (env: NodeJS.ProcessEnv): string => join(env.HOME!, '.config', 'pip', 'pip.conf');
const xdgFile = (env: NodeJS.ProcessEnv): string => join(env.XDG_CONFIG_DIRS!, 'pip', 'pip.conf');

describe('readHostPipConfig', () => {
  it('lets later files, [install] and then PIP_* variables win, and names where each came from', async () => {
    const env = hostWith(
      {
        xdg: '[global]\nindex-url = https://one.example/simple\ntrusted-host = one.example\n',
        user: '[global]\nindex-url = https://two.example/simple\n[install]\nfind-links =\n  /w1\n  /w2\n',
      },
      {
        PIP_EXTRA_INDEX_URL: 'https://x.example/simple https://y.example/simple',
        PIP_NO_INDEX: 'false',
        PIP_CERT: '/etc/ssl/certs/ca.pem',
      },
    );
    const cfg = await readHostPipConfig(PYTHON, env);
    expect(cfg).toMatchObject({
      indexUrl: 'https://two.example/simple',
      extraIndexUrls: ['https://x.example/simple', 'https://y.example/simple'],
      findLinks: ['/w1', '/w2'],
      trustedHosts: ['one.example'],
      noIndex: false,
      cert: '/etc/ssl/certs/ca.pem',
    });
    expect(cfg.sources).toEqual(
      expect.arrayContaining(['PIP_EXTRA_INDEX_URL', 'PIP_CERT', userFile(env), xdgFile(env)]),
    );
  });

  it("applies [install] over [global] whatever the files' order, and ignores sections pip does not know", async () => {
    // pip reads the global-level file first; its [install] still beats the user file's [global], and [GLOBAL] is
    // not [global] to pip (section names are case-sensitive).
    const env = hostWith({
      xdg: '[install]\nfind-links = /w1\n[GLOBAL]\ntrusted-host = upper.example\n',
      user: '[global]\nfind-links = /w2\n',
    });
    const cfg = await readHostPipConfig(PYTHON, env);
    expect(cfg.findLinks).toEqual(['/w1']);
    expect(cfg.trustedHosts).toEqual([]);
  });

  it('reads no file at all with PIP_CONFIG_FILE=/dev/null', async () => {
    const env = hostWith(
      { xdg: '[global]\nindex-url = https://one.example/simple\n', user: '[global]\nno-index = yes\n' },
      { PIP_CONFIG_FILE: '/dev/null', PIP_TRUSTED_HOST: 'env.example' },
    );
    const cfg = await readHostPipConfig(PYTHON, env);
    expect(cfg.indexUrl).not.toBe('https://one.example/simple');
    expect(cfg.noIndex).toBe(false);
    expect(cfg.trustedHosts).toEqual(['env.example']);
    expect(cfg.sources).toEqual(['PIP_TRUSTED_HOST']);
  });

  it('refuses, with a structured error naming the file, a configuration pip itself refuses', async () => {
    const env = hostWith({ user: 'index-url = https://no-section.example/simple\n' });
    await expect(readHostPipConfig(PYTHON, env)).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringContaining(userFile(env)),
    });
  });

  it('reads nothing, and fails nothing, for a python without pip', async () => {
    const venv = join(root, 'no-pip');
    execFileSync(PYTHON, ['-m', 'venv', '--without-pip', venv]);
    const env = hostWith({ user: '[global]\nindex-url = https://two.example/simple\n' });
    const cfg = await readHostPipConfig(join(venv, 'bin', 'python'), env);
    expect(cfg).toMatchObject({ indexUrl: null, sources: [] });
  });
});

describe('parseConfigList', () => {
  it("decodes the values pip prints as Python's repr", () => {
    const list = parseConfigList(
      "global.extra-index-url='https://a.example/simple\\nhttps://b.example/simple'\n" +
        `install.find-links="/it's/here"\n` +
        "global.cert='C:\\\\certs\\\\ca.pem'\n" +
        "global.index-url='https://\\xe9.example/\\u2603'\n",
    );
    expect(Object.fromEntries(list)).toEqual({
      'global.extra-index-url': 'https://a.example/simple\nhttps://b.example/simple',
      'install.find-links': "/it's/here",
      'global.cert': 'C:\\certs\\ca.pem',
      'global.index-url': 'https://\u00e9.example/\u2603',
    });
  });
});
