// The value of one shell word as the shell would see it (quotes removed, escapes resolved), or null when it
// depends on an expansion; it must never pretend to know what an expansion evaluates to.
import type { SyntaxNode } from './shell-parser.js';

export interface ShellWord {
  /** The word after quote removal, or null when it contains a parameter, command or arithmetic expansion. */
  value: string | null;
  /** The word with quotes removed and expansions left as written: good enough to show, and to re-parse a script. */
  text: string;
}

export function literal(value: string): ShellWord {
  return { value, text: value };
}

export function wordOf(node: SyntaxNode): ShellWord {
  switch (node.type) {
    case 'word':
      return literal(unescapeBare(node.text));
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
    default:
      // Expansions (and anything unknown) have no value the policy can know before the shell runs.
      return { value: null, text: node.text };
  }
}

function joinParts(parts: SyntaxNode[], each: (n: SyntaxNode) => ShellWord): ShellWord {
  let value: string | null = '';
  let text = '';
  for (const part of parts) {
    const w = each(part);
    text += w.text;
    value = value === null || w.value === null ? null : value + w.value;
  }
  return { value, text };
}

/** Outside quotes a backslash keeps the next character literal; backslash-newline joins lines. */
function unescapeBare(s: string): string {
  return s.replace(/\\(\n|.)/gs, (_m, c: string) => (c === '\n' ? '' : c));
}

/** Inside double quotes a backslash only escapes $ ` " \ and newline. */
function unescapeDoubleQuoted(s: string): string {
  return s.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}

const C_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  e: '\x1b',
  E: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '?': '?',
};

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
      return C_ESCAPES[head] ?? m;
    },
  );
}
