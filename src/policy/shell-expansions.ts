// Expansions whose value is known before the shell runs: `$((…))` over integer literals, and `$(echo …)` or
// `$(printf …)` with literal arguments. Anything else has no value here; it must never guess one.
import type { SyntaxNode } from './shell-parser.js';
import { echoOutput, printfOutput } from './shell-printf.js';

/** A word's value (null when unknown), as shell-words computes it. */
type ValueOf = (node: SyntaxNode) => string | null;

export function expansionValue(node: SyntaxNode, valueOf: ValueOf): string | null {
  if (node.type === 'arithmetic_expansion') {
    const expr = node.namedChildren[0];
    const n = expr && node.namedChildren.length === 1 ? arithmetic(expr) : null;
    return n === null ? null : n.toString();
  }
  if (node.type === 'command_substitution') return printedBy(node, valueOf);
  return null;
}

/** The output of a substitution that runs one echo or printf with literal arguments, trailing newlines removed. */
function printedBy(node: SyntaxNode, valueOf: ValueOf): string | null {
  const [cmd, ...others] = node.namedChildren;
  if (!cmd || others.length > 0 || cmd.type !== 'command') return null;
  const words = [cmd.childForFieldName('name'), ...cmd.childrenForFieldName('argument')];
  if (cmd.childrenForFieldName('redirect').length > 0) return null;
  const values: string[] = [];
  for (const w of words) {
    const v = w ? valueOf(w) : null;
    if (v === null) return null;
    values.push(v);
  }
  const program = values[0]?.split('/').pop();
  const out =
    program === 'echo'
      ? echoOutput(values.slice(1))
      : program === 'printf'
        ? printfOutput(values.slice(1))
        : null;
  return out === null ? null : out.replace(/\n+$/, '');
}

const BINARY: Record<string, (a: bigint, b: bigint) => bigint | null> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => (b === 0n ? null : a / b),
  '%': (a, b) => (b === 0n ? null : a % b),
  '**': (a, b) => (b < 0n || b > 64n ? null : a ** b),
  '<<': (a, b) => (b < 0n || b > 64n ? null : BigInt.asIntN(64, a << b)),
  '>>': (a, b) => (b < 0n || b > 64n ? null : a >> b),
  '&': (a, b) => a & b,
  '|': (a, b) => a | b,
  '^': (a, b) => a ^ b,
  '<': (a, b) => (a < b ? 1n : 0n),
  '>': (a, b) => (a > b ? 1n : 0n),
  '<=': (a, b) => (a <= b ? 1n : 0n),
  '>=': (a, b) => (a >= b ? 1n : 0n),
  '==': (a, b) => (a === b ? 1n : 0n),
  '!=': (a, b) => (a !== b ? 1n : 0n),
  '&&': (a, b) => (a !== 0n && b !== 0n ? 1n : 0n),
  '||': (a, b) => (a !== 0n || b !== 0n ? 1n : 0n),
};

/** Shell arithmetic over literals only (64-bit, as the shell computes it); null as soon as a variable appears. */
function arithmetic(node: SyntaxNode): bigint | null {
  switch (node.type) {
    case 'number':
      return shellNumber(node.text);
    case 'parenthesized_expression': {
      const inner = node.namedChildren[0];
      return inner && node.namedChildren.length === 1 ? arithmetic(inner) : null;
    }
    case 'unary_expression': {
      const op = node.children.find((c) => !c.isNamed)?.type;
      const operand = node.namedChildren[0];
      const v = operand ? arithmetic(operand) : null;
      if (v === null) return null;
      if (op === '-') return BigInt.asIntN(64, -v);
      if (op === '+') return v;
      if (op === '~') return ~v;
      if (op === '!') return v === 0n ? 1n : 0n;
      return null;
    }
    case 'binary_expression': {
      const [left, right] = node.namedChildren;
      const op = node.children.find((c) => !c.isNamed)?.type ?? '';
      const a = left ? arithmetic(left) : null;
      const b = right ? arithmetic(right) : null;
      const f = BINARY[op];
      if (a === null || b === null || !f) return null;
      const r = f(a, b);
      return r === null ? null : BigInt.asIntN(64, r);
    }
    case 'ternary_expression': {
      const [cond, yes, no] = node.namedChildren;
      const c = cond ? arithmetic(cond) : null;
      if (c === null || !yes || !no) return null;
      return arithmetic(c !== 0n ? yes : no);
    }
    default:
      return null;
  }
}

/** 12, 012 (octal), 0x1f, 2#101 (base#digits, bases 2 to 64). */
function shellNumber(text: string): bigint | null {
  const based = /^(\d+)#([0-9a-zA-Z@_]+)$/.exec(text);
  if (based) {
    const base = Number(based[1]);
    if (base < 2 || base > 64) return null;
    let n = 0n;
    for (const ch of based[2] as string) {
      const d = digit(ch, base);
      if (d === null || d >= base) return null;
      n = n * BigInt(base) + BigInt(d);
    }
    return BigInt.asIntN(64, n);
  }
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) return BigInt.asIntN(64, BigInt(text));
  if (/^0[0-7]+$/.test(text)) return BigInt.asIntN(64, BigInt('0o' + text.slice(1)));
  if (/^\d+$/.test(text)) return BigInt.asIntN(64, BigInt(text));
  return null;
}

function digit(ch: string, base: number): number | null {
  if (/\d/.test(ch)) return Number(ch);
  if (/[a-z]/.test(ch)) return ch.charCodeAt(0) - 87;
  if (/[A-Z]/.test(ch)) return base <= 36 ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 29;
  if (ch === '@') return 62;
  if (ch === '_') return 63;
  return null;
}
