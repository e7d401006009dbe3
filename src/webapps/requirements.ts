// Pure: turns what the session's Python said about an app's imports into requirements.txt entries — distribution
// names, pinned to the session's installed versions, standard library and local modules left out, the server added.
// Never guesses silently: every unpinned or guessed entry comes with a warning.
import { normalizeName } from '../packages/spec.js';
import type { AppType, Requirement, RequirementsResult } from './types.js';

/** Well-known modules whose distribution has another name (used before the session's own mapping). */
export const KNOWN_DISTRIBUTIONS: Readonly<Record<string, string>> = {
  PIL: 'pillow',
  sklearn: 'scikit-learn',
  cv2: 'opencv-python',
  yaml: 'PyYAML',
  bs4: 'beautifulsoup4',
  skimage: 'scikit-image',
  dateutil: 'python-dateutil',
  dotenv: 'python-dotenv',
  jwt: 'PyJWT',
  Crypto: 'pycryptodome',
  serial: 'pyserial',
  docx: 'python-docx',
  pptx: 'python-pptx',
  zmq: 'pyzmq',
  MySQLdb: 'mysqlclient',
  OpenSSL: 'pyOpenSSL',
  git: 'GitPython',
  fitz: 'PyMuPDF',
  attr: 'attrs',
  multipart: 'python-multipart',
};

/** The server each kind of app needs in its image, whatever it imports. */
export const SERVER_PACKAGES: Readonly<Record<AppType, readonly string[]>> = {
  flask: ['flask', 'gunicorn'],
  fastapi: ['fastapi', 'uvicorn'],
  streamlit: ['streamlit'],
  static: [],
};

/** Distribution names the probe should look up versions for, beyond what the imports map to. */
export function extraDistributions(type: AppType): string[] {
  return [...new Set([...Object.values(KNOWN_DISTRIBUTIONS), ...SERVER_PACKAGES[type]])];
}

/** The facts requirement detection needs (a subset of the probe's answer). */
export interface ImportFacts {
  imports: string[];
  stdlib: string[];
  local: string[];
  dists: Record<string, string[]>;
  versions: Record<string, string>;
}

function pinnable(version: string): { version: string | null; note: string | null } {
  if (!/^[0-9][0-9A-Za-z.!+-]*$/.test(version))
    return { version: null, note: `unusual version '${version}'` };
  const plus = version.indexOf('+');
  if (plus >= 0) {
    // A local label (a distribution's own build, e.g. +dfsg) is never on the package index.
    return { version: version.slice(0, plus), note: `local version label dropped from '${version}'` };
  }
  return { version, note: null };
}

export function buildRequirements(facts: ImportFacts, type: AppType): RequirementsResult {
  const versions = new Map(Object.entries(facts.versions).map(([k, v]) => [normalizeName(k), v]));
  const skip = new Set([...facts.stdlib, ...facts.local]);
  const entries = new Map<string, Requirement>();
  const warnings: string[] = [];
  const add = (module: string, distribution: string, source: Requirement['source']) => {
    const key = normalizeName(distribution);
    if (entries.has(key)) return;
    const installed = versions.get(key);
    let version: string | null = null;
    if (installed !== undefined) {
      const p = pinnable(installed);
      version = p.version;
      if (p.note) warnings.push(`${distribution}: ${p.note}`);
    } else {
      warnings.push(
        source === 'guess'
          ? `'${module}' is not installed in the session: listed unpinned as '${distribution}' (check that this is its package name)`
          : `${distribution} is not installed in the session: listed unpinned`,
      );
    }
    entries.set(key, { module, distribution, version, source });
  };
  for (const module of [...facts.imports].sort()) {
    if (skip.has(module)) continue;
    const known = KNOWN_DISTRIBUTIONS[module];
    const mapped = facts.dists[module] ?? [];
    if (known) add(module, known, 'table');
    else if (mapped.length > 0) add(module, pickDistribution(module, mapped), 'installed');
    else add(module, module, 'guess');
  }
  for (const pkg of SERVER_PACKAGES[type]) add(pkg, pkg, 'server');
  const list = [...entries.values()].sort((a, b) =>
    a.distribution.toLowerCase().localeCompare(b.distribution.toLowerCase()),
  );
  return {
    lines: list.map((e) => (e.version ? `${e.distribution}==${e.version}` : e.distribution)),
    entries: list,
    stdlib: [...facts.stdlib].sort(),
    local: [...facts.local].sort(),
    warnings,
  };
}

// A namespace module (google, azure) maps to several distributions; the one named like the module wins, else the first.
function pickDistribution(module: string, dists: string[]): string {
  return dists.find((d) => normalizeName(d) === normalizeName(module)) ?? [...dists].sort()[0]!;
}
