// The forms an argument is matched in besides its spelling: paths normalized (`//dev/./sda`, `/proc/self/root/…`,
// `../../dev/sda`, relative to a directory the line `cd`s into) and numbers read as numbers (`-01` is `-1`).
// A rule's deny conditions test every form; it must never drop the form as written.

/** `/proc/self/root`, `/proc/1/root`…: the root directory again. */
const PROC_ROOT = /^proc\/(?:self|thread-self|\d+)\/root$/;

/** The path with `//`, `.`, `..` and `/proc/*\/root` resolved as text; relative paths stay relative. */
export function normalizePath(p: string): string {
  const absolute = p.startsWith('/');
  const parts: string[] = [];
  let climbs = 0;
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0) parts.pop();
      else if (!absolute) climbs++;
    } else parts.push(seg);
    if (absolute && PROC_ROOT.test(parts.join('/'))) parts.length = 0;
  }
  const body = parts.join('/');
  if (absolute) return '/' + body;
  return [...Array<string>(climbs).fill('..'), body].filter((s) => s !== '').join('/') || '.';
}

/** Where a relative path may land: from each directory the line changes into, and from the root. */
function placements(rel: string, dirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const d of [...dirs, '/']) out.add(normalizePath(`${d.startsWith('/') ? d : '/' + d}/${rel}`));
  return [...out];
}

/**
 * The forms of one argument: as written, and, for a path (or `key=path`, as in `of=//dev/sda`), normalized;
 * a relative path also placed under each directory in `dirs` and under `/` (`..` can climb to the root).
 */
export function argumentForms(text: string, dirs: readonly string[]): string[] {
  const forms = new Set([text]);
  const kv = /^([A-Za-z_-][\w-]*=)(.*)$/s.exec(text);
  const [prefix, path] = kv ? [kv[1] as string, kv[2] as string] : ['', text];
  const looksLikePath = path.includes('/') || (dirs.length > 0 && path !== '' && !path.startsWith('-'));
  if (looksLikePath) {
    const n = normalizePath(path);
    if (n.startsWith('/')) forms.add(prefix + n);
    else for (const p of placements(n, dirs)) forms.add(prefix + p);
  }
  return [...forms];
}

/** A process id as kill reads it: surrounding blanks and leading zeros or `+` do not change the number. */
export function pidForms(text: string): string[] {
  const m = /^\s*([+-]?)0*(\d+)\s*$/.exec(text);
  if (!m) return [text];
  const canonical = (m[1] === '-' ? '-' : '') + (m[2] as string);
  return canonical === text ? [text] : [text, canonical];
}
