// Whether two glob patterns (`*`, `?`, `[…]`, backslash escapes) can match a common name: a program written as a
// glob (`/usr/bin/unshar?`) is matched against a rule's names by what it could expand to, never by its spelling.
import { braceExpand } from 'minimatch';

type Token = { star: true } | { star: false; has: (c: string) => boolean; mentions: string; literal?: true };

/** Every printable ASCII character, and what the patterns name, is tried as a witness for two one-character tokens. */
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

function tokenize(pattern: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (!out.at(-1)?.star) out.push({ star: true });
    } else if (ch === '?') out.push({ star: false, has: () => true, mentions: '' });
    else if (ch === '\\' && i + 1 < pattern.length) out.push(exact(pattern[++i] as string));
    else if (ch === '[') {
      const cls = bracket(pattern, i);
      if (cls) {
        out.push(cls.token);
        i = cls.end;
      } else out.push(exact('['));
    } else out.push(exact(ch));
  }
  return out;
}

const exact = (c: string): Token => ({ star: false, has: (x) => x === c, mentions: c, literal: true });

/** A bracket expression starting at i: `[abc]`, `[a-z]`, `[!x]`, `[^x]`, `[]x]`; null when it is not closed. */
function bracket(pattern: string, i: number): { token: Token; end: number } | null {
  let j = i + 1;
  const negated = pattern[j] === '!' || pattern[j] === '^';
  if (negated) j++;
  const ranges: Array<[string, string]> = [];
  let first = true;
  for (; j < pattern.length; j++) {
    let c = pattern[j] as string;
    if (c === ']' && !first) {
      const mentions = ranges.map(([a, b]) => a + b).join('');
      const inSet = (x: string) => ranges.some(([a, b]) => a <= x && x <= b);
      return { token: { star: false, has: (x) => inSet(x) !== negated, mentions }, end: j };
    }
    first = false;
    if (c === '[' && pattern[j + 1] === ':') {
      const close = pattern.indexOf(':]', j + 2);
      if (close < 0) return null;
      ranges.push(...posixClass(pattern.slice(j + 2, close)));
      j = close + 1;
      continue;
    }
    if (c === '\\' && j + 1 < pattern.length) c = pattern[++j] as string;
    if (pattern[j + 1] === '-' && pattern[j + 2] !== undefined && pattern[j + 2] !== ']') {
      let hi = pattern[j + 2] as string;
      j += 2;
      if (hi === '\\' && j + 1 < pattern.length) hi = pattern[++j] as string;
      ranges.push([c, hi]);
    } else ranges.push([c, c]);
  }
  return null;
}

function posixClass(name: string): Array<[string, string]> {
  const classes: Record<string, Array<[string, string]>> = {
    alpha: [
      ['a', 'z'],
      ['A', 'Z'],
    ],
    digit: [['0', '9']],
    alnum: [
      ['a', 'z'],
      ['A', 'Z'],
      ['0', '9'],
    ],
    lower: [['a', 'z']],
    upper: [['A', 'Z']],
    xdigit: [
      ['0', '9'],
      ['a', 'f'],
      ['A', 'F'],
    ],
    space: [[' ', ' ']],
    punct: [
      ['!', '/'],
      [':', '@'],
      ['[', '`'],
      ['{', '~'],
    ],
  };
  // An unknown class is read as "any printable character": wider is the safe side here.
  return classes[name] ?? [[' ', '~']];
}

function intersects(a: Token[], b: Token[]): boolean {
  const seen = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = seen.get(key);
    if (known !== undefined) return known;
    seen.set(key, false);
    let r: boolean;
    const x = a[i];
    const y = b[j];
    if (!x && !y) r = true;
    else if (x?.star) r = go(i + 1, j) || (y !== undefined && go(i, j + 1));
    else if (y?.star) r = go(i, j + 1) || (x !== undefined && go(i + 1, j));
    else if (!x || !y) r = false;
    else r = commonChar(x, y) && go(i + 1, j + 1);
    seen.set(key, r);
    return r;
  };
  return go(0, 0);
}

function commonChar(x: Token, y: Token): boolean {
  if (x.star || y.star) return true;
  for (const c of PRINTABLE + x.mentions + y.mentions) if (x.has(c) && y.has(c)) return true;
  return false;
}

/** Whether some name matches both the shell glob and the rule's program pattern (minimatch syntax, braces too). */
export function globsIntersect(shellGlob: string, rulePattern: string): boolean {
  const word = tokenize(shellGlob);
  return braceExpand(rulePattern).some((p) => intersects(word, tokenize(p)));
}

/** The last path segment of a glob pattern, or null when it has no wildcard (the name is then known). */
export function globBasename(pattern: string): string | null {
  const base = pattern.slice(pattern.lastIndexOf('/') + 1);
  return tokenize(base).some((t) => t.star || !t.literal) ? base : null;
}
