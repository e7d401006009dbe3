// The value of one shell word as the shell would see it (quotes removed, escapes resolved), or null when it
// depends on an expansion whose value is not known (shell-expansions says which are); it must never guess one.
import { expansionValue } from './shell-expansions.js';
import { LETTER_ESCAPES } from './shell-printf.js';
import type { SyntaxNode } from './shell-parser.js';

export interface ShellWord {
  /** The word after quote removal, or null when it contains a parameter, command or arithmetic expansion. */
  value: string | null;
  /** The word with quotes removed and expansions left as written: good enough to show, and to re-parse a script. */
  text: string;
  /**
   * Present when the word has an unquoted `*`, `?` or `[`: the word as a glob pattern (quoted and escaped
   * characters backslash-escaped), since the shell may replace it with names it matches.
   */
  glob?: string;
}

export function literal(value: string): ShellWord {
  return { value, text: value };
}

export function wordOf(node: SyntaxNode): ShellWord {
  switch (node.type) {
    case 'word':
      return bareWord(node.text);
    case 'number':
    case 'brace_expression': // dash has no brace expansion: the braces are literal
      return literal(node.text);
    case 'raw_string':
      return literal(node.text.slice(1, -1));
    case 'ansi_c_string':
      return literal(decodeAnsiC(node.text.slice(2, -1)));
    case 'string':
      return joinParts(node.namedChildren, (child) =>
        child.type === 'string_content' ? literal(unescapeDoubleQuoted(child.text)) : wordOf(child),
      );
    case 'command_name':
    case 'translated_string': {
      const inner = node.namedChildren[0];
      return inner ? wordOf(inner) : literal(node.text);
    }
    case 'concatenation':
      return joinParts(node.children, (child) => (child.isNamed ? wordOf(child) : literal(child.text)));
    default: {
      // Other expansions (and anything unknown) have no value the policy can know before the shell runs.
      const known = expansionValue(node, (n) => wordOf(n).value);
      return known === null ? { value: null, text: node.text } : { value: known, text: node.text };
    }
  }
}

function joinParts(parts: SyntaxNode[], each: (n: SyntaxNode) => ShellWord): ShellWord {
  let value: string | null = '';
  let text = '';
  let pattern = '';
  let globbing = false;
  for (const part of parts) {
    const w = each(part);
    text += w.text;
    value = value === null || w.value === null ? null : value + w.value;
    pattern += w.glob ?? escapeGlob(w.value ?? w.text);
    globbing ||= w.glob !== undefined;
  }
  return globbing ? { value, text, glob: pattern } : { value, text };
}

/** A glob pattern matching exactly s (a lone `]` needs no escape: only `[` opens a bracket expression). */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\\]/g, '\\$&');
}

/** An unquoted word: its value, and its glob pattern when it has an unescaped `*`, `?` or `[`. */
function bareWord(raw: string): ShellWord {
  const value = unescapeBare(raw);
  let pattern = '';
  let globbing = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === '\\') {
      const next = raw[i + 1];
      if (next !== undefined && next !== '\n') pattern += escapeGlob(next);
      i++;
    } else {
      pattern += ch;
      globbing ||= ch === '*' || ch === '?' || ch === '[';
    }
  }
  return globbing ? { value, text: value, glob: pattern } : literal(value);
}

/** Outside quotes a backslash keeps the next character literal; backslash-newline joins lines. */
function unescapeBare(s: string): string {
  return s.replace(/\\(\n|.)/gs, (_m, c: string) => (c === '\n' ? '' : c));
}

/** Inside double quotes a backslash only escapes $ ` " \ and newline. */
function unescapeDoubleQuoted(s: string): string {
  return s.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}

/** bash's $'...' quoting; dash (our /bin/sh) may not expand it, but decoding it can only find more, never less. */
function decodeAnsiC(s: string): string {
  return s.replace(
    /\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs,
    (m, e: string) => {
      const head = e[0] ?? '';
      if (head === 'x' || head === 'u' || head === 'U') {
        const code = parseInt(e.slice(1), 16);
        return code <= 0x10ffff ? String.fromCodePoint(code) : m;
      }
      if (/[0-7]/.test(head)) return String.fromCharCode(parseInt(e, 8) & 0xff);
      if (head === 'c') return String.fromCharCode((e.charCodeAt(1) || 0) & 0x1f);
      return LETTER_ESCAPES[head] ?? m;
    },
  );
}
