// The package-index settings of the HOST's pip configuration, asked of pip itself (`pip config list` for the values,
// `pip config debug` for the files they came from), so installs in a box use the index this machine is configured
// for. It keeps only index settings: it must never carry any other host setting or secret into a box.
import { execFile } from 'node:child_process';
import { SandboxError } from '../errors.js';

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

const KEYS = ['index-url', 'extra-index-url', 'find-links', 'trusted-host', 'no-index', 'cert'] as const;
type Key = (typeof KEYS)[number];
/** The sections an install's options come from, later winning: pip's own order for a command. */
const SECTIONS = ['global', 'install', ':env:'] as const;
/** pip's config levels, later overriding earlier ones (pip's Configuration OVERRIDE_ORDER). */
const LEVELS = ['global', 'user', 'site', 'env'] as const;

const PY_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"' };

/** A value as `pip config list` prints it: Python's repr() of a str. */
function fromRepr(repr: string): string | null {
  const quote = repr[0];
  if ((quote !== "'" && quote !== '"') || repr.length < 2 || repr[repr.length - 1] !== quote) return null;
  return repr
    .slice(1, -1)
    .replace(/\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)/g, (_, e: string) =>
      e.length > 1 ? String.fromCodePoint(parseInt(e.slice(1), 16)) : (PY_ESCAPES[e] ?? `\\${e}`),
    );
}

/** `pip config list` output (`section.key='value'` lines) as a map. */
export function parseConfigList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const value = fromRepr(line.slice(eq + 1).trim());
    if (value !== null) out.set(line.slice(0, eq).trim(), value);
  }
  return out;
}

/** `pip config debug` output: for each level, the files pip found and the names set at that level. */
export function parseConfigDebug(text: string): Map<string, { files: string[]; names: Set<string> }> {
  const levels = new Map<string, { files: string[]; names: Set<string> }>();
  let level: { files: string[]; names: Set<string> } | null = null;
  for (const line of text.split('\n')) {
    const head = /^(\w+):$/.exec(line);
    if (head) {
      level = { files: [], names: new Set() };
      levels.set(head[1]!, level);
      continue;
    }
    const file = /^ {2}(\S.*), exists: (True|False)$/.exec(line);
    if (file && level) {
      if (file[2] === 'True') level.files.push(file[1]!);
      continue;
    }
    const name = /^ {4}([^\s:]+\.[^\s:]+): /.exec(line);
    if (name && level) level.names.add(name[1]!);
  }
  return levels;
}

/** The index settings from pip's answers: [global], then [install], then PIP_* variables; empty values are skipped, as pip skips them. */
export function indexSettings(list: string, debug: string): HostPipConfig {
  const values = parseConfigList(list);
  const levels = parseConfigDebug(debug);
  const chosen = new Map<Key, string>();
  const sources = new Set<string>();
  for (const k of KEYS) {
    for (const section of SECTIONS) {
      const v = values.get(`${section}.${k}`);
      if (!v) continue;
      chosen.set(k, v);
      if (section === ':env:') {
        sources.add(`PIP_${k.toUpperCase().replace(/-/g, '_')}`);
        continue;
      }
      // the files of the last level that sets it (pip names files per level, not per value)
      const level = [...LEVELS].reverse().find((l) => levels.get(l)?.names.has(`${section}.${k}`));
      for (const f of level ? (levels.get(level)?.files ?? []) : []) sources.add(f);
    }
  }
  const words = (k: Key): string[] => (chosen.get(k) ?? '').split(/\s+/).filter((w) => w.length > 0);
  return {
    indexUrl: chosen.get('index-url')?.trim() || null,
    extraIndexUrls: words('extra-index-url'),
    findLinks: words('find-links'),
    trustedHosts: words('trusted-host'),
    noIndex: ['1', 'true', 'yes', 'on', 'y', 't'].includes(
      (chosen.get('no-index') ?? '').trim().toLowerCase(),
    ),
    cert: chosen.get('cert')?.trim() || null,
    sources: [...sources],
  };
}

function pipConfig(python: string, command: 'list' | 'debug', env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    // -I: neither the working folder nor PYTHON* variables choose which pip answers; PIP_* variables still count.
    execFile(
      python,
      ['-I', '-X', 'utf8', '-m', 'pip', 'config', command],
      { env, timeout: 60_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (/No module named pip/.test(stderr)) return resolve(''); // no pip on the host: nothing configured for it
        reject(
          new SandboxError(
            'internal',
            `cannot read the host's pip configuration (${python} -m pip config ${command}): ${(stderr.trim() || err.message).slice(-400)}`,
            { python },
            'fix the pip configuration file pip names (pip config debug lists them), or PIP_CONFIG_FILE',
          ),
        );
      },
    );
  });
}

/** The host's effective index settings for `python`, as its pip sees them with this environment. */
export async function readHostPipConfig(
  python: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HostPipConfig> {
  const [list, debug] = await Promise.all([pipConfig(python, 'list', env), pipConfig(python, 'debug', env)]);
  return indexSettings(list, debug);
}
