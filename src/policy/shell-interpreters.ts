// Where an interpreter other than a shell (python, perl, node, awk…) takes the program it runs from: given inline
// (-c, -e), a file operand, or standard input. It only reads options; it must never decide what is allowed.
import type { ShellWord } from './shell-words.js';

export interface ProgramSource {
  /** The interpreter reads its program from standard input. */
  fromStdin: boolean;
  /** The file it reads its program from (a process substitution or /dev/fd/N is a stream, not a file). */
  scriptFile: ShellWord | null;
}

interface Spec {
  /** Option letters whose value is the program itself (python -c). */
  inline: string;
  /** Option letters that take a value, attached or as the next word. */
  withValue: string;
  /** Option letters whose value can only be attached (perl -Mstrict, -l, -0777). */
  attachedOnly?: string;
  /** Long options that give the program inline, and long options that take the next word. */
  inlineLong?: readonly string[];
  longWithValue?: readonly string[];
  /** Options naming the program's file (awk -f FILE, php -f FILE). */
  fileOptions?: readonly string[];
  /** Without a program file nor an inline one, the program comes from standard input (false for awk and sed). */
  stdinByDefault: boolean;
  /** The first operand is the program text itself (awk 'prog', sed 'script') unless a file option is given. */
  firstOperandIsProgram?: boolean;
}

const PYTHON: Spec = {
  inline: 'cm',
  withValue: 'WXQ',
  longWithValue: ['--check-hash-based-pycs'],
  stdinByDefault: true,
};

const SPECS: Array<[RegExp, Spec]> = [
  [/^(?:python|pypy)[0-9.]*(?:-dbg)?$/, PYTHON],
  [/^perl[0-9.]*$/, { inline: 'eE', withValue: 'I', attachedOnly: 'Mmlix0CdDF', stdinByDefault: true }],
  [/^ruby[0-9.]*$/, { inline: 'e', withValue: 'rICE', attachedOnly: 'xT0FilWK', stdinByDefault: true }],
  [
    /^(?:node|nodejs)$/,
    {
      inline: 'ep',
      withValue: 'rC',
      inlineLong: ['--eval', '--print'],
      longWithValue: [
        '--require',
        '--import',
        '--loader',
        '--experimental-loader',
        '--input-type',
        '--conditions',
      ],
      stdinByDefault: true,
    },
  ],
  [/^php[0-9.]*$/, { inline: 'rBRE', withValue: 'cdz', fileOptions: ['-f', '--file'], stdinByDefault: true }],
  [/^(?:lua[0-9.]*|luajit)$/, { inline: 'e', withValue: 'l', stdinByDefault: true }],
  [/^(?:tclsh|wish)[0-9.]*$/, { inline: '', withValue: '', stdinByDefault: true }],
  [/^julia$/, { inline: 'eEL', withValue: 'JCtp', stdinByDefault: true }],
  [
    /^dc$/,
    {
      inline: 'e',
      withValue: '',
      fileOptions: ['-f', '--file'],
      inlineLong: ['--expression'],
      stdinByDefault: true,
    },
  ],
  [
    /^(?:g|m|n|busybox-)?awk$/,
    {
      inline: '',
      withValue: 'Fvl',
      fileOptions: ['-f', '--file', '-E', '--exec', '-i', '--include'],
      stdinByDefault: false,
      firstOperandIsProgram: true,
    },
  ],
  [
    /^g?sed$/,
    {
      inline: 'e',
      withValue: 'l',
      inlineLong: ['--expression'],
      fileOptions: ['-f', '--file'],
      stdinByDefault: false,
      firstOperandIsProgram: true,
    },
  ],
];

/** Names that stand for every interpreter known here, for matching a program written as a glob. */
export const INTERPRETER_NAMES = [
  'python',
  'python3',
  'pypy3',
  'perl',
  'ruby',
  'node',
  'nodejs',
  'php',
  'lua',
  'luajit',
  'tclsh',
  'wish',
  'julia',
  'dc',
  'awk',
  'gawk',
  'mawk',
  'nawk',
  'sed',
];

const str = (w: ShellWord | undefined): string => (w ? (w.value ?? w.text) : '');

/** Where `program args…` takes its program from, or null when program is not an interpreter known here. */
export function programSource(program: string, args: readonly ShellWord[]): ProgramSource | null {
  const spec = SPECS.find(([re]) => re.test(program))?.[1];
  return spec ? scan(args, spec) : null;
}

function scan(args: readonly ShellWord[], spec: Spec): ProgramSource {
  let inline = false;
  let file: ShellWord | null = null;
  let i = 0;
  const fileOption = (name: string) => spec.fileOptions?.includes(name) ?? false;
  for (; i < args.length; i++) {
    const a = str(args[i]);
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-' || !a.startsWith('-')) break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      const takesNext =
        eq < 0 && (spec.longWithValue?.includes(name) || spec.inlineLong?.includes(name) || fileOption(name));
      if (spec.inlineLong?.includes(name)) inline = true;
      if (fileOption(name))
        file = eq >= 0 ? { value: a.slice(eq + 1), text: a.slice(eq + 1) } : (args[i + 1] ?? null);
      if (takesNext) i++;
      continue;
    }
    for (let k = 1; k < a.length; k++) {
      const letter = a[k] as string;
      const attached = a.slice(k + 1);
      if (fileOption('-' + letter)) {
        file = attached ? { value: attached, text: attached } : (args[++i] ?? null);
        break;
      }
      if (spec.inline.includes(letter) || spec.withValue.includes(letter)) {
        if (spec.inline.includes(letter)) inline = true;
        if (!attached) i++;
        break;
      }
      if (spec.attachedOnly?.includes(letter)) break;
    }
  }
  if (file && str(file) === '-') return { fromStdin: true, scriptFile: null };
  if (inline || file) return { fromStdin: false, scriptFile: file };
  const operand = args[i];
  if (spec.firstOperandIsProgram) return { fromStdin: false, scriptFile: null };
  if (operand === undefined || str(operand) === '-')
    return { fromStdin: spec.stdinByDefault, scriptFile: null };
  return { fromStdin: false, scriptFile: operand };
}
