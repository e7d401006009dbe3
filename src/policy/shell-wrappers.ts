// What a simple command runs besides itself: the command a wrapper (env, sudo, xargs, timeout, find -exec…) starts,
// the strings a shell will parse again (sh -c, eval, trap, su -c…), and where a shell or interpreter reads its
// program from. It must never decide what is allowed.
import { INTERPRETER_NAMES, programSource } from './shell-interpreters.js';
import { literal, type ShellWord } from './shell-words.js';

export interface Nested {
  /** Commands the wrapper starts, as argv lists (program first). */
  commands: Array<{ argv: ShellWord[]; via: string }>;
  /** Strings that a shell parses and runs. */
  scripts: Array<{ script: ShellWord; via: string }>;
  /** A shell started without a script: what it reads on standard input is its script. */
  readsScriptFromStdin: boolean;
  /** An interpreter other than a shell (python, perl…) reads its program from standard input. */
  readsProgramFromStdin: boolean;
  /** The file a shell or interpreter reads its program from (`sh x.sh`, `. x.sh`, `python3 <(…)`). */
  scriptFile: ShellWord | null;
}

/** Options of one program: letters and long names that take a value. */
interface OptSpec {
  short?: string;
  long?: readonly string[];
}

interface Parsed {
  opts: Array<{ name: string; value: ShellWord | null }>;
  /** Index of the first operand. */
  rest: number;
}

const str = (w: ShellWord | undefined): string => (w ? (w.value ?? w.text) : '');

/** POSIX getopt that stops at the first operand (as wrappers do, so the wrapped command's options stay its own). */
function getopt(args: readonly ShellWord[], spec: OptSpec, from = 0): Parsed {
  const opts: Parsed['opts'] = [];
  let i = from;
  while (i < args.length) {
    const a = str(args[i]);
    if (a === '--') return { opts, rest: i + 1 };
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      if (eq >= 0) opts.push({ name, value: literal(a.slice(eq + 1)) });
      else if (spec.long?.includes(name.slice(2))) {
        opts.push({ name, value: args[i + 1] ?? null });
        i++;
      } else opts.push({ name, value: null });
      i++;
      continue;
    }
    if (!a.startsWith('-') || a === '-') return { opts, rest: i };
    let consumedNext = false;
    for (let k = 1; k < a.length; k++) {
      const letter = a[k] as string;
      if (spec.short?.includes(letter)) {
        const attached = a.slice(k + 1);
        if (attached) opts.push({ name: '-' + letter, value: literal(attached) });
        else {
          opts.push({ name: '-' + letter, value: args[i + 1] ?? null });
          consumedNext = true;
        }
        break;
      }
      opts.push({ name: '-' + letter, value: null });
    }
    i += consumedNext ? 2 : 1;
  }
  return { opts, rest: i };
}

const has = (p: Parsed, ...names: string[]) => p.opts.some((o) => names.includes(o.name));
const values = (p: Parsed, ...names: string[]) =>
  p.opts.filter((o) => names.includes(o.name) && o.value !== null).map((o) => o.value as ShellWord);

const none = (): Nested => ({
  commands: [],
  scripts: [],
  readsScriptFromStdin: false,
  readsProgramFromStdin: false,
  scriptFile: null,
});

function runs(args: readonly ShellWord[], at: number, via: string): Nested {
  const argv = args.slice(at);
  return { ...none(), commands: argv.length > 0 ? [{ argv, via }] : [] };
}

const SHELLS = new Set([
  'sh',
  'bash',
  'dash',
  'zsh',
  'ksh',
  'mksh',
  'ash',
  'yash',
  'posh',
  'rbash',
  'busybox-sh',
]);

/** sh/bash: `-c STRING` is a script; `-s`, or no operand, means the script comes from standard input. */
function shellNested(name: string, args: readonly ShellWord[]): Nested {
  let i = 0;
  let cFlag = false;
  let sFlag = false;
  while (i < args.length) {
    const a = str(args[i]);
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      i += ['--rcfile', '--init-file'].includes(a) ? 2 : 1;
      continue;
    }
    if (!/^[-+]/.test(a) || a.length < 2) break;
    const letters = a.slice(1);
    if (letters.includes('c')) cFlag = true;
    // -s reads the script from stdin even when operands follow: they become the positional parameters.
    if (a.startsWith('-') && letters.includes('s')) sFlag = true;
    // -o NAME / -O NAME take the next word.
    i += /[oO]/.test(letters) ? 2 : 1;
  }
  const out = none();
  if (cFlag) {
    const script = args[i];
    if (script) out.scripts.push({ script, via: `${name} -c` });
  } else if (sFlag || i >= args.length) out.readsScriptFromStdin = true;
  else out.scriptFile = args[i] ?? null;
  return out;
}

function findExec(args: readonly ShellWord[]): Nested {
  const out = none();
  for (let i = 0; i < args.length; i++) {
    const a = str(args[i]);
    if (!['-exec', '-execdir', '-ok', '-okdir'].includes(a)) continue;
    let j = i + 1;
    while (j < args.length && ![';', '+'].includes(str(args[j]))) j++;
    if (j > i + 1) out.commands.push({ argv: args.slice(i + 1, j), via: `find ${a}` });
    i = j;
  }
  return out;
}

type Handler = (args: readonly ShellWord[], name: string) => Nested;

const HANDLERS: Record<string, Handler> = {
  env: (args) => {
    const p = getopt(args, { short: 'uCS', long: ['unset', 'chdir', 'split-string'] });
    const out = none();
    for (const s of values(p, '-S', '--split-string')) out.scripts.push({ script: s, via: 'env -S' });
    let i = p.rest;
    while (i < args.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(str(args[i]))) i++;
    out.commands.push(...runs(args, i, 'env').commands);
    return out;
  },
  sudo: (args) => {
    const p = getopt(args, {
      short: 'ughprtCDUTR',
      long: [
        'user',
        'group',
        'host',
        'prompt',
        'role',
        'type',
        'close-from',
        'chdir',
        'other-user',
        'command-timeout',
        'chroot',
      ],
    });
    return runs(args, p.rest, 'sudo');
  },
  doas: (args) => runs(args, getopt(args, { short: 'uC' }).rest, 'doas'),
  su: (args) => {
    const p = getopt(args, {
      short: 'cgGsuw',
      long: ['command', 'session-command', 'group', 'supp-group', 'shell', 'user', 'whitelist-environment'],
    });
    const out = none();
    for (const s of values(p, '-c', '--command', '--session-command'))
      out.scripts.push({ script: s, via: 'su -c' });
    // runuser -u USER -- CMD runs CMD directly.
    if (has(p, '-u', '--user')) out.commands.push(...runs(args, p.rest, 'runuser').commands);
    return out;
  },
  xargs: (args) => {
    const p = getopt(args, {
      short: 'adEILnPs',
      long: ['arg-file', 'delimiter', 'max-args', 'max-procs', 'max-chars', 'process-slot-var'],
    });
    return runs(args, p.rest, 'xargs');
  },
  nohup: (args) => runs(args, getopt(args, {}).rest, 'nohup'),
  setsid: (args) => runs(args, getopt(args, {}).rest, 'setsid'),
  builtin: (args) => runs(args, 0, 'builtin'),
  exec: (args) => runs(args, getopt(args, { short: 'a' }).rest, 'exec'),
  command: (args) => {
    const p = getopt(args, {});
    // command -v / -V only looks a name up.
    return has(p, '-v', '-V') ? none() : runs(args, p.rest, 'command');
  },
  time: (args) => runs(args, getopt(args, { short: 'of', long: ['output', 'format'] }).rest, 'time'),
  nice: (args) => runs(args, getopt(args, { short: 'n', long: ['adjustment'] }).rest, 'nice'),
  timeout: (args) => {
    const p = getopt(args, { short: 'sk', long: ['signal', 'kill-after'] });
    return runs(args, p.rest + 1, 'timeout'); // the first operand is the duration
  },
  ionice: (args) => {
    const p = getopt(args, { short: 'cnu', long: ['class', 'classdata', 'uid'] });
    return has(p, '-p', '--pid', '-P', '--pgid') ? none() : runs(args, p.rest, 'ionice');
  },
  chrt: (args) => {
    const p = getopt(args, { short: 'TPD', long: ['sched-runtime', 'sched-period', 'sched-deadline'] });
    return has(p, '-p', '--pid') ? none() : runs(args, p.rest + 1, 'chrt'); // then the priority
  },
  taskset: (args) => {
    const p = getopt(args, {});
    return has(p, '-p', '--pid') ? none() : runs(args, p.rest + 1, 'taskset'); // then the mask or list
  },
  stdbuf: (args) =>
    runs(args, getopt(args, { short: 'ioe', long: ['input', 'output', 'error'] }).rest, 'stdbuf'),
  flock: (args) => {
    // flock [opts] FILE CMD ARGS…, or flock [opts] FILE -c CMD (options may also follow FILE).
    const spec: OptSpec = { short: 'wEc', long: ['timeout', 'conflict-exit-code', 'command'] };
    const before = getopt(args, spec);
    const after = getopt(args, spec, before.rest + 1);
    const out = none();
    for (const s of [...values(before, '-c', '--command'), ...values(after, '-c', '--command')]) {
      out.scripts.push({ script: s, via: 'flock -c' });
    }
    out.commands.push(...runs(args, after.rest, 'flock').commands);
    return out;
  },
  strace: (args) => {
    const p = getopt(args, { short: 'abeEIoOpPsSuUX', long: ['output', 'attach', 'expr', 'user', 'env'] });
    return has(p, '-p', '--attach') ? none() : runs(args, p.rest, 'strace');
  },
  ltrace: (args) => {
    const p = getopt(args, { short: 'aAeEfFlnopsuwxX', long: ['output', 'library'] });
    return has(p, '-p') ? none() : runs(args, p.rest, 'ltrace');
  },
  watch: (args) => {
    const p = getopt(args, { short: 'nq', long: ['interval', 'equexit'] });
    if (has(p, '-x', '--exec')) return runs(args, p.rest, 'watch -x');
    const rest = args.slice(p.rest);
    if (rest.length === 0) return none();
    return { ...none(), scripts: [{ script: joinWords(rest), via: 'watch' }] };
  },
  script: (args) => {
    const p = getopt(args, {
      short: 'cEIOBTmo',
      long: [
        'command',
        'echo',
        'log-in',
        'log-out',
        'log-io',
        'log-timing',
        'logging-format',
        'output-limit',
      ],
    });
    return {
      ...none(),
      scripts: values(p, '-c', '--command').map((script) => ({ script, via: 'script -c' })),
    };
  },
  busybox: (args) => runs(args, 0, 'busybox'),
  find: (args) => findExec(args),
  eval: (args) =>
    args.length > 0 ? { ...none(), scripts: [{ script: joinWords(args), via: 'eval' }] } : none(),
  trap: (args) => {
    const a = str(args[0]) === '--' ? args.slice(1) : args;
    const first = str(a[0]);
    // `trap -p`, `trap -l`, `trap - SIG` (reset) and `trap N` run nothing.
    if (a.length < 2 || first.startsWith('-')) return none();
    return { ...none(), scripts: [{ script: a[0] as ShellWord, via: 'trap' }] };
  },
  alias: (args) => {
    const out = none();
    for (const a of args) {
      const s = str(a);
      const eq = s.indexOf('=');
      if (eq <= 0) continue;
      const value = s.slice(eq + 1);
      out.scripts.push({ script: { value: a.value === null ? null : value, text: value }, via: 'alias' });
    }
    return out;
  },
};
HANDLERS.runuser = HANDLERS.su as Handler;
HANDLERS['.'] = (args) => {
  const at = str(args[0]) === '--' ? 1 : 0;
  return { ...none(), scriptFile: args[at] ?? null };
};
HANDLERS.source = HANDLERS['.'] as Handler;

/** Words joined by single spaces, as eval and watch do before parsing. */
function joinWords(words: readonly ShellWord[]): ShellWord {
  const dynamic = words.some((w) => w.value === null);
  return {
    value: dynamic ? null : words.map((w) => w.value).join(' '),
    text: words.map((w) => w.text).join(' '),
  };
}

/** What `program args…` runs besides itself; program is the basename. */
export function nestedOf(program: string, args: readonly ShellWord[]): Nested {
  if (SHELLS.has(program)) return shellNested(program, args);
  const handler = HANDLERS[program];
  if (handler) return handler(args, program);
  const source = programSource(program, args);
  return source
    ? { ...none(), readsProgramFromStdin: source.fromStdin, scriptFile: source.scriptFile }
    : none();
}

/** Every program name this file knows something about, for a program written as a glob. */
export const KNOWN_PROGRAMS: readonly string[] = [...SHELLS, ...Object.keys(HANDLERS), ...INTERPRETER_NAMES];
