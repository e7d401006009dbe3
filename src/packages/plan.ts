// Turns the host's index settings and a validated package spec into an install plan: the installer's argv, the
// local index folders to bind read-only into the install box, and the only hosts its proxy may reach. Pure.
// It must never put anything but the validated spec after `--`, and never bind a folder over the box's own paths.
import { fileURLToPath } from 'node:url';
import { posix } from 'node:path';
import type { HostPipConfig } from './pip-config.js';
import type { InstallIndex } from './result-schemas.js';
import type { PackageSpec } from './spec.js';

export interface InstallPlanInput {
  config: HostPipConfig;
  spec: PackageSpec;
  /** Python inside the venv, as the install box sees it. */
  venvPython: string;
  /** uv's path when it is installed where the box sees it (under /usr), else null: pip is used. */
  uv: string | null;
  /** bwrap: local folders are bound into the box; none: they are used in place. */
  isolation: 'bwrap' | 'none';
  /** 'dir', 'file' or null (absent) for a host path. */
  pathKind: (path: string) => 'dir' | 'file' | null;
}

export interface InstallPlan {
  installer: 'pip' | 'uv';
  argv: string[];
  roBinds: Array<{ host: string; box: string }>;
  /** Allowlist rules for the install's proxy; empty: the install box has no network at all. */
  networkRules: string[];
  env: Record<string, string>;
  /** The index settings used, with credentials hidden, for the result. */
  index: InstallIndex;
  warnings: string[];
}

export const DEFAULT_INDEX = 'https://pypi.org/simple';

// Paths inside the box that a same-path bind must never cover.
const PROTECTED = [
  '/workspace',
  '/opt/sandbox-agent',
  '/opt/mplconfig',
  '/proc',
  '/dev',
  '/etc',
  '/run/sandbox-net',
];

/** `https://user:secret@host/x` → `https://***@host/x`; non-URLs are returned as they are. */
export function redactUrl(u: string): string {
  return u.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
}

function bindable(path: string): string | null {
  const p = posix.normalize(path);
  if (!posix.isAbsolute(p) || p === '/' || p === '/tmp') return 'it is not a specific absolute folder';
  if (PROTECTED.some((x) => p === x || p.startsWith(`${x}/`) || x.startsWith(`${p}/`))) {
    return 'it overlaps a path the sandbox itself uses';
  }
  return null;
}

export function planInstall(input: InstallPlanInput): InstallPlan {
  const { config: cfg, spec } = input;
  const warnings: string[] = [];
  const binds = new Map<string, string>();
  const hosts = new Set<string>();
  const flags: string[] = [];

  /** Makes a local folder visible in the box at the same path; false when it cannot be. */
  const local = (path: string, what: string): boolean => {
    const kind = input.pathKind(path);
    if (kind === null) {
      warnings.push(`${what} ${path} does not exist on the host; skipped`);
      return false;
    }
    if (input.isolation === 'none' || path === '/usr' || path.startsWith('/usr/')) return true;
    const dir = kind === 'file' ? posix.dirname(path) : path;
    const why = bindable(dir);
    if (why) {
      warnings.push(`${what} ${path} cannot be shown to the sandbox: ${why}; skipped`);
      return false;
    }
    binds.set(dir, dir);
    return true;
  };
  const remote = (url: string): void => {
    const host = new URL(url).hostname;
    hosts.add(host);
    // PyPI serves its files from another host than its index.
    if (host === 'pypi.org') hosts.add('files.pythonhosted.org');
  };
  /** An index URL: http(s) opens its host; file:// binds the folder above it (relative links point at siblings). */
  const index = (url: string, what: string): boolean => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      warnings.push(`${what} '${redactUrl(url)}' is not a URL; skipped`);
      return false;
    }
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      remote(url);
      return true;
    }
    if (parsed.protocol === 'file:') {
      const path = fileURLToPath(parsed);
      const parent = posix.dirname(path.replace(/\/+$/, ''));
      if (input.pathKind(path) === null) {
        warnings.push(`${what} ${path} does not exist on the host; skipped`);
        return false;
      }
      return local(parent !== '/' ? parent : path, what);
    }
    warnings.push(`${what} '${redactUrl(url)}' uses an unsupported scheme; skipped`);
    return false;
  };

  let usedIndex = cfg.noIndex ? null : (cfg.indexUrl ?? DEFAULT_INDEX);
  if (usedIndex && !index(usedIndex, 'index')) usedIndex = null;
  // Without a usable index pip would fall back to PyPI, which the install's proxy does not allow anyway.
  if (usedIndex) flags.push('--index-url', usedIndex);
  else flags.push('--no-index');
  const extras = cfg.noIndex ? [] : cfg.extraIndexUrls.filter((u) => index(u, 'extra index'));
  for (const u of extras) flags.push('--extra-index-url', u);
  const findLinks: string[] = [];
  for (const f of cfg.findLinks) {
    let ok = false;
    if (/^https?:/i.test(f)) ok = index(f, 'find-links');
    else if (/^file:/i.test(f)) {
      try {
        ok = local(fileURLToPath(f), 'find-links');
      } catch {
        warnings.push(`find-links '${f}' is not a valid file URL; skipped`);
      }
    } else if (f.startsWith('/')) ok = local(f, 'find-links');
    else warnings.push(`find-links '${f}' is a relative path; skipped`);
    if (ok) {
      findLinks.push(f);
      flags.push('--find-links', f);
    }
  }
  const env: Record<string, string> = {};
  const uv = input.uv;
  for (const h of cfg.trustedHosts) flags.push(uv ? '--allow-insecure-host' : '--trusted-host', h);
  if (cfg.cert) {
    if (cfg.cert.startsWith('/usr/') || cfg.cert.startsWith('/etc/ssl/certs/')) {
      if (uv) env.SSL_CERT_FILE = cfg.cert;
      else flags.push('--cert', cfg.cert);
    } else warnings.push(`cert ${cfg.cert} is not visible inside the sandbox; the default CA bundle is used`);
  }
  if (spec.urlHost) remote(`https://${spec.urlHost}/`);

  const argv = uv
    ? [uv, 'pip', 'install', '--python', input.venvPython, ...flags, '--', spec.requirement]
    : [
        input.venvPython,
        '-I',
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--progress-bar',
        'off',
        ...flags,
        '--',
        spec.requirement,
      ];
  return {
    installer: uv ? 'uv' : 'pip',
    argv,
    roBinds: [...binds.keys()].sort().map((p) => ({ host: p, box: p })),
    networkRules: [...hosts].sort(),
    env,
    index: {
      index_url: usedIndex ? redactUrl(usedIndex) : null,
      extra_index_urls: extras.map(redactUrl),
      find_links: findLinks.map(redactUrl),
      no_index: usedIndex === null,
    },
    warnings,
  };
}
