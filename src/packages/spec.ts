// Validates what install_package is asked to install: a PEP 508 name with optional extras and a version specifier,
// or (only when the server allows it) a URL or a workspace path. Pure; it must never let a pip option through.
import { posix } from 'node:path';
import { SandboxError } from '../errors.js';

export interface PackageSpec {
  /** The one argument pip or uv is given after `--`. */
  requirement: string;
  /** PEP 503 normalized distribution name, when the spec names one. */
  name: string | null;
  kind: 'name' | 'url' | 'path';
  /** The host a URL spec downloads from. */
  urlHost: string | null;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/;
// PEP 440 versions start with a digit (or 'v'); `===` compares arbitrary strings, still without spaces or quotes.
const VERSION = /^v?[0-9][A-Za-z0-9.+!_-]{0,99}$/;
const ARBITRARY = /^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,99}$/;
const CLAUSE = /^(===|~=|==|!=|<=|>=|<|>)\s*(\S+)$/;
const URL_START = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const URLS_HINT =
  'this server installs packages by name only; its operator can allow URLs and paths with --allow-package-urls';

/** PEP 503: lower case, runs of -_. become one dash. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function refuse(message: string, pkg: string, hint?: string): never {
  throw new SandboxError('invalid_argument', message, { package: pkg }, hint);
}

/** A comma-separated version specifier (`==1.2`, `>=1,<2`, `~=3.1`); a bare version means `==` it. */
export function parseSpecifier(raw: string, pkg: string): string {
  const text = raw.trim();
  if (VERSION.test(text) && !text.includes('*')) return `==${text}`;
  const clauses = text.split(',').map((c) => c.trim());
  const out: string[] = [];
  for (const c of clauses) {
    const m = CLAUSE.exec(c);
    const op = m?.[1];
    let v = m?.[2] ?? '';
    const wildcard = v.endsWith('.*');
    if (wildcard) v = v.slice(0, -2);
    const okVersion = op === '===' ? ARBITRARY.test(v) && !wildcard : VERSION.test(v);
    if (!op || !okVersion || (wildcard && op !== '==' && op !== '!=')) {
      refuse(
        `'${raw}' is not a version specifier: use a version (1.2.3) or clauses like ==1.2, >=1,<2, ~=3.1`,
        pkg,
      );
    }
    out.push(`${op}${v}${wildcard ? '.*' : ''}`);
  }
  return out.join(',');
}

function parseUrl(text: string, pkg: string): PackageSpec {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse(`'${text}' is not a valid URL`, pkg);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    refuse(`only http and https package URLs are accepted, not ${url.protocol}`, pkg);
  }
  if (/\s/.test(text)) refuse('a package URL cannot contain spaces', pkg);
  return { requirement: url.href, name: null, kind: 'url', urlHost: url.hostname };
}

function parsePath(text: string, pkg: string): PackageSpec {
  const abs = posix.normalize(text.startsWith('/') ? text : posix.join('/workspace', text));
  if (abs !== '/workspace' && !abs.startsWith('/workspace/')) {
    refuse(`package paths must be inside /workspace: '${text}'`, pkg);
  }
  return { requirement: abs, name: null, kind: 'path', urlHost: null };
}

export function parsePackageSpec(pkg: string, version: string | undefined, allowUrls: boolean): PackageSpec {
  const text = pkg.trim();
  if (text === '') refuse('package must not be empty', pkg);
  if (text.startsWith('-')) {
    refuse(`pip options are not accepted ('${text.split(/\s/)[0]}'); give a package name and a version`, pkg);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) refuse('package contains control characters', pkg);
  const at = /^([^@\s]+)\s*@\s*(\S+)$/.exec(text);
  const isUrl = URL_START.test(text) || at !== null;
  const isPath =
    !isUrl && (/^[./~]/.test(text) || text.includes('/') || /\.(whl|zip|tar\.gz|tgz)$/i.test(text));
  if (isUrl || isPath) {
    if (!allowUrls) refuse(`'${text}' is a ${isUrl ? 'URL' : 'path'}, not a package name`, pkg, URLS_HINT);
    if (version !== undefined) refuse('version only applies to a package given by name', pkg);
    if (at) {
      if (!NAME.test(at[1]!)) refuse(`'${at[1]}' is not a valid package name`, pkg);
      const spec = parseUrl(at[2]!, pkg);
      return { ...spec, requirement: `${at[1]} @ ${spec.requirement}`, name: normalizeName(at[1]!) };
    }
    if (isUrl) return parseUrl(text, pkg);
    if (text.startsWith('~')) refuse('~ paths are not accepted; use a path inside /workspace', pkg);
    return parsePath(text, pkg);
  }
  const m = /^([^[\]=<>!~;,\s]+)\s*(?:\[([^\]]*)\])?\s*([^;]*)$/.exec(text);
  if (!m) return refuse(`'${text}' is not a package name with an optional version specifier`, pkg);
  const [, name, extrasRaw, specRaw] = m as unknown as [string, string, string | undefined, string];
  if (!NAME.test(name)) refuse(`'${name}' is not a valid package name`, pkg);
  const extras = (extrasRaw ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  for (const e of extras) if (!NAME.test(e)) refuse(`'${e}' is not a valid extra name`, pkg);
  const inline = specRaw.trim();
  if (inline && version !== undefined)
    refuse('give the version either in package or in version, not both', pkg);
  const specText = inline || version;
  const specifier = specText !== undefined && specText.trim() !== '' ? parseSpecifier(specText, pkg) : '';
  const requirement = `${name}${extras.length ? `[${extras.join(',')}]` : ''}${specifier}`;
  return { requirement, name: normalizeName(name), kind: 'name', urlHost: null };
}
