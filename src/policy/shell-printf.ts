// What `echo ARGS…` and `printf FORMAT ARGS…` write, computed from their literal arguments (escapes, octal and hex
// codes, %s/%b/%c/%d conversions); null when the output depends on something the policy does not model.

/** Backslash-letter escapes as echo, printf and $'…' read them. */
export const LETTER_ESCAPES: Readonly<Record<string, string>> = {
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
  '"': '"',
  "'": "'",
  '?': '?',
};

/** Decoded text, and whether a `\c` asked to stop all further output. */
interface Decoded {
  text: string;
  stop: boolean;
}

/**
 * Backslash escapes as printf's format (octal `\NNN`) or as echo and %b read them (`\0NNN`; bash also takes `\NNN`,
 * so both are decoded: reading more escapes than the shell does can only find more, never less).
 */
function decodeEscapes(s: string, octalNeedsZero: boolean): Decoded {
  let text = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch !== '\\' || i + 1 >= s.length) {
      text += ch;
      continue;
    }
    const rest = s.slice(i + 1);
    const octal = (octalNeedsZero ? /^0?([0-7]{1,3})/ : /^([0-7]{1,3})/).exec(rest);
    const hex = /^x([0-9a-fA-F]{1,2})/.exec(rest) ?? /^u([0-9a-fA-F]{1,4})/.exec(rest);
    if (octal) {
      text += String.fromCharCode(parseInt(octal[1] as string, 8) & 0xff);
      i += octal[0].length;
    } else if (hex) {
      text += String.fromCodePoint(parseInt(hex[1] as string, 16));
      i += hex[0].length;
    } else if (rest[0] === 'c') {
      return { text, stop: true };
    } else if (LETTER_ESCAPES[rest[0] as string] !== undefined) {
      text += LETTER_ESCAPES[rest[0] as string];
      i += 1;
    } else text += ch;
  }
  return { text, stop: false };
}

/** What echo writes: dash's echo always reads escapes, bash's only with -e; both readings are the same text here. */
export function echoOutput(args: readonly string[]): string {
  let i = 0;
  let newline = true;
  let escapes = true;
  while (i < args.length && /^-[neE]+$/.test(args[i] as string)) {
    const flags = args[i] as string;
    if (flags.includes('n')) newline = false;
    if (flags.endsWith('E')) escapes = false;
    i++;
  }
  const joined = args.slice(i).join(' ');
  if (!escapes) return joined + (newline ? '\n' : '');
  const d = decodeEscapes(joined, true);
  return d.text + (newline && !d.stop ? '\n' : '');
}

const CONVERSION = /^%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?([sbcdiouxX%])/;

/** What printf writes, or null for a format it does not model (floats, %n, positional arguments…). */
export function printfOutput(args: readonly string[]): string | null {
  const at = args[0] === '--' ? 1 : 0;
  const format = args[at];
  if (format === undefined) return null;
  const values = args.slice(at + 1);
  let next = 0;
  const take = (): string => values[next++] ?? '';
  let out = '';
  do {
    const before = next;
    for (let i = 0; i < format.length; i++) {
      const ch = format[i] as string;
      if (ch === '\\') {
        const end = escapeEnd(format, i);
        const d = decodeEscapes(format.slice(i, end), false);
        out += d.text;
        if (d.stop) return out;
        i = end - 1;
        continue;
      }
      if (ch !== '%') {
        out += ch;
        continue;
      }
      const m = CONVERSION.exec(format.slice(i));
      if (!m) return null;
      i += m[0].length - 1;
      const [, flags = '', widthSpec, precSpec, conv] = m;
      if (conv === '%') {
        out += '%';
        continue;
      }
      const width = widthSpec === '*' ? Number(take()) : Number(widthSpec ?? 0);
      const precision =
        precSpec === undefined ? undefined : precSpec === '*' ? Number(take()) : Number(precSpec);
      const piece = convert(conv as string, take(), precision);
      if (piece === null) return null;
      if (piece.stop) return out + piece.text;
      out += pad(piece.text, width, flags.includes('-'));
    }
    if (next === before) break; // the format consumed no argument: it is written once
  } while (next < values.length);
  return out;
}

/** End of the escape starting at i (exclusive). */
function escapeEnd(format: string, i: number): number {
  const m = /^\\(?:[0-7]{1,3}|x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|.)/s.exec(format.slice(i));
  return i + (m ? m[0].length : 1);
}

function convert(conv: string, value: string, precision: number | undefined): Decoded | null {
  switch (conv) {
    case 's':
      return { text: precision === undefined ? value : value.slice(0, precision), stop: false };
    case 'b':
      return decodeEscapes(value, true);
    case 'c':
      return { text: value.slice(0, 1), stop: false };
    default: {
      const n = integer(value);
      if (n === null) return null;
      const radix = conv === 'o' ? 8 : conv === 'x' || conv === 'X' ? 16 : 10;
      const text = n.toString(radix);
      return { text: conv === 'X' ? text.toUpperCase() : text, stop: false };
    }
  }
}

/** printf's integer arguments: decimal, 0octal, 0xhex, or 'c (the character's code). */
function integer(value: string): bigint | null {
  const v = value.trim();
  if (v === '') return 0n;
  if (/^['"]/.test(v)) return BigInt(v.codePointAt(1) ?? 0);
  const m = /^([+-]?)(0x[0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(v);
  if (!m) return null;
  const body = m[2] as string;
  const n = body.startsWith('0x')
    ? BigInt(body)
    : body.startsWith('0')
      ? BigInt('0o' + (body.slice(1) || '0'))
      : BigInt(body);
  return m[1] === '-' ? -n : n;
}

function pad(text: string, width: number, left: boolean): string {
  if (!(width > text.length)) return text;
  return left ? text.padEnd(width) : text.padStart(width);
}
