// Reads the package-index settings of the HOST's pip configuration (files in pip's order, then PIP_* variables),
// so installs in a box use the index this machine is configured for. It reads only index settings: it must never
// carry any other host setting or secret into a box.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface HostPipConfig {
  indexUrl: string | null;
  extraIndexUrls: string[];
  findLinks: string[];
  trustedHosts: string[];
  noIndex: boolean;
  cert: string | null;
  /** The files and variables that contributed, for the install result. */
  sources: string[];
}

type Ini = Map<string, Map<string, string>>;

/** configparser-style: [section], key = value or key: value, indented continuation lines, # and ; comments. */
export function parseIni(text: string): Ini {
  const out: Ini = new Map();
  let section: Map<string, string> | null = null;
  let lastKey: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const sec = /^\[([^\]]+)\]\s*$/.exec(raw);
    if (sec) {
      const name = sec[1]!.trim().toLowerCase();
      section = out.get(name) ?? new Map<string, string>();
      out.set(name, section);
      lastKey = null;
      continue;
    }
    if (/^\s/.test(raw) && section && lastKey !== null) {
      section.set(lastKey, `${section.get(lastKey) ?? ''}\n${raw.trim()}`.trim());
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(raw);
    if (!kv || !section) continue;
    lastKey = normalizeKey(kv[1]!);
    section.set(lastKey, kv[2]!.trim());
  }
  return out;
}

// pip's own normalization: case-insensitive, underscores equal dashes, leading dashes dropped.
function normalizeKey(key: string): string {
  return key.trim().toLowerCase().replace(/_/g, '-').replace(/^-+/, '');
}

function truthy(v: string): boolean {
  return ['1', 'true', 'yes', 'on', 'y', 't'].includes(v.trim().toLowerCase());
}

function words(v: string): string[] {
  return v.split(/\s+/).filter((w) => w.length > 0);
}

const KEYS = ['index-url', 'extra-index-url', 'find-links', 'trusted-host', 'no-index', 'cert'] as const;
type Key = (typeof KEYS)[number];

/** The config files pip reads, in its load order, and whether the user files are skipped (PIP_CONFIG_FILE set). */
export function pipConfigFiles(env: NodeJS.ProcessEnv, pythonPrefix: string): string[] {
  const envFile = env.PIP_CONFIG_FILE;
  if (envFile === '/dev/null') return [];
  const xdgDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter((d) => d.startsWith('/'));
  const files = [...xdgDirs.map((d) => join(d, 'pip', 'pip.conf')), '/etc/pip.conf'];
  // pip skips the user files when PIP_CONFIG_FILE names an existing file.
  if (!(envFile && existsSync(envFile))) {
    const home = env.HOME || homedir();
    files.push(
      join(home, '.pip', 'pip.conf'),
      join(env.XDG_CONFIG_HOME || join(home, '.config'), 'pip', 'pip.conf'),
    );
  }
  files.push(join(pythonPrefix, 'pip.conf'));
  if (envFile) files.push(envFile);
  return files;
}

/** Merges config files (in load order: later wins; [install] over [global]) and then PIP_* variables. Pure. */
export function mergePipConfig(
  files: ReadonlyArray<{ path: string; text: string }>,
  env: NodeJS.ProcessEnv,
): HostPipConfig {
  const values = new Map<Key, string>();
  const sources = new Set<string>();
  for (const f of files) {
    const ini = parseIni(f.text);
    for (const section of ['global', 'install']) {
      const s = ini.get(section);
      if (!s) continue;
      for (const k of KEYS) {
        const v = s.get(k);
        if (v === undefined) continue;
        values.set(k, v);
        sources.add(f.path);
      }
    }
  }
  for (const k of KEYS) {
    const name = `PIP_${k.toUpperCase().replace(/-/g, '_')}`;
    const v = env[name];
    if (v === undefined || v === '') continue;
    values.set(k, v);
    sources.add(name);
  }
  const get = (k: Key) => values.get(k);
  return {
    indexUrl: get('index-url')?.trim() || null,
    extraIndexUrls: words(get('extra-index-url') ?? ''),
    findLinks: words(get('find-links') ?? ''),
    trustedHosts: words(get('trusted-host') ?? ''),
    noIndex: truthy(get('no-index') ?? ''),
    cert: get('cert')?.trim() || null,
    sources: [...sources],
  };
}

/** The host's effective index settings for `python` (its prefix holds the site config file). */
export function readHostPipConfig(python: string, env: NodeJS.ProcessEnv = process.env): HostPipConfig {
  const prefix = dirname(dirname(python));
  const files: Array<{ path: string; text: string }> = [];
  for (const path of pipConfigFiles(env, prefix)) {
    try {
      files.push({ path, text: readFileSync(path, 'utf8') });
    } catch {
      // absent or unreadable: pip skips it too
    }
  }
  return mergePipConfig(files, env);
}
