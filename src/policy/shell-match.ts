// Decides whether one simple command or redirection matches one deny rule; pure, so every rule is unit-tested.
// It must never look at anything but the parsed words of a single command (and the directories the line enters).
// Deny conditions test every form of an argument (shell-forms); `unless` exemptions test only the spelling.
import { Minimatch } from 'minimatch';
import type { Redirection, SimpleCommand } from './shell-commands.js';
import { argumentForms, pidForms } from './shell-forms.js';
import { globsIntersect } from './shell-globs.js';
import type { ArgCondition, ShellRule } from './shell-rules.js';
import { UNVERIFIABLE } from './shell-stdin.js';
import type { ShellWord } from './shell-words.js';

interface CompiledCondition {
  anyArg?: RegExp[];
  operand?: RegExp[];
  firstOperand?: RegExp[];
  optionValue?: Array<{ names: string[]; value: RegExp }>;
  killTarget?: RegExp[];
  noArgs?: boolean;
  scriptFromStdin?: boolean;
}

export interface CompiledRule {
  rule: ShellRule;
  programs: Minimatch[];
  /** The rule applies when any one of these holds; null: always. */
  when: CompiledCondition[] | null;
  unless: CompiledCondition[];
  /** Checked after every other rule, so that what readable piped text holds is reported by its own rule. */
  last: boolean;
  optionsWithValue: Set<string>;
  redirectTo: RegExp[];
}

/** Thrown for a rule that cannot be compiled (a bad regular expression); the message names the rule. */
export class RuleError extends Error {}

function regexes(ruleId: string, sources: string[] | undefined): RegExp[] | undefined {
  return sources?.map((s) => {
    try {
      return new RegExp(`^(?:${s})$`, 'u');
    } catch (err) {
      throw new RuleError(
        `rule '${ruleId}': bad regular expression ${JSON.stringify(s)}: ${(err as Error).message}`,
      );
    }
  });
}

function compileCondition(id: string, c: ArgCondition): CompiledCondition {
  const out: CompiledCondition = {};
  const anyArg = regexes(id, c.any_arg);
  if (anyArg) out.anyArg = anyArg;
  const operand = regexes(id, c.operand);
  if (operand) out.operand = operand;
  const first = regexes(id, c.first_operand);
  if (first) out.firstOperand = first;
  const kill = regexes(id, c.kill_target);
  if (kill) out.killTarget = kill;
  if (c.option_value) {
    out.optionValue = c.option_value.map((o) => ({
      names: o.names,
      value: (regexes(id, [o.value]) as RegExp[])[0] as RegExp,
    }));
  }
  if (c.no_args !== undefined) out.noArgs = c.no_args;
  if (c.script_from_stdin !== undefined) out.scriptFromStdin = c.script_from_stdin;
  return out;
}

export function compileRule(rule: ShellRule): CompiledRule {
  if (!rule.programs?.length && !rule.redirect_to?.length) {
    throw new RuleError(`rule '${rule.id}' names neither programs nor redirect_to`);
  }
  const when = rule.when === undefined ? null : [rule.when].flat().map((c) => compileCondition(rule.id, c));
  if (when?.length === 0) throw new RuleError(`rule '${rule.id}': 'when' is an empty list`);
  return {
    rule,
    programs: (rule.programs ?? []).map((p) => new Minimatch(p, { nocase: false, dot: true })),
    when,
    unless: (rule.unless ?? []).map((c) => compileCondition(rule.id, c)),
    last: when?.some((c) => c.scriptFromStdin === true) ?? false,
    optionsWithValue: new Set(rule.options_with_value ?? []),
    redirectTo: regexes(rule.id, rule.redirect_to) ?? [],
  };
}

/** The text a word is matched as: its value, or as written when it depends on an expansion. */
const textOf = (w: ShellWord): string => w.value ?? w.text;

function operands(args: string[], withValue: Set<string>): string[] {
  const out: string[] = [];
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (options && a === '--') {
      options = false;
      continue;
    }
    if (options && a.startsWith('-') && a !== '-') {
      if (withValue.has(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The processes `kill` would signal: everything after the signal option. A lone `kill -1` is read as "everything". */
function killTargets(args: string[]): string[] {
  const first = args[0];
  if (first === undefined || ['-l', '-L', '--list', '--table'].includes(first)) return [];
  let i = 0;
  if (['-s', '-n', '--signal'].includes(first)) i = 2;
  else if (first.startsWith('--signal=') || /^-([A-Za-z][A-Za-z0-9+-]*|\d+)$/.test(first)) i = 1;
  if (args[i] === '--') i++;
  const targets = args.slice(i);
  return targets.length === 0 && pidForms(first).includes('-1') ? ['-1'] : targets;
}

/**
 * Values of options: `-m 4755`, `-m4755`, `-Dm 4755` (a cluster of letters), `--mode 4755`, `--mode=4755`; with
 * `abbreviated`, also a long option cut short as GNU programs accept it (`--mo=4755`).
 */
function optionValues(args: string[], names: string[], abbreviated: boolean): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') break;
    for (const n of names) {
      if (n.startsWith('--') && a.startsWith('--')) {
        const eq = a.indexOf('=');
        const given = eq >= 0 ? a.slice(0, eq) : a;
        const named = given === n || (abbreviated && given.length > 2 && n.startsWith(given));
        if (named && eq >= 0) found.push(a.slice(eq + 1));
        else if (named && i + 1 < args.length) found.push(args[i + 1] as string);
      } else if (a === n && i + 1 < args.length) found.push(args[i + 1] as string);
      else if (/^-[A-Za-z0-9]$/.test(n) && /^-[A-Za-z0-9]/.test(a)) {
        const at = clusterLetter(a, n[1] as string);
        if (at < 0) continue;
        if (at + 1 < a.length) found.push(a.slice(at + 1));
        else if (at > 1 && i + 1 < args.length) found.push(args[i + 1] as string);
      }
    }
  }
  return found;
}

/** Where letter sits in a cluster of option letters (`-Dm`), or -1; only letters before it count as flags. */
function clusterLetter(arg: string, letter: string): number {
  for (let k = 1; k < arg.length; k++) {
    if (arg[k] === letter) return k;
    if (!/[A-Za-z]/.test(arg[k] as string)) return -1;
  }
  return -1;
}

const some = (res: RegExp[], values: string[]) => values.some((v) => res.some((r) => r.test(v)));

/** How a condition sees an argument: every form of it (deny conditions), or only its spelling (exemptions). */
type Forms = (arg: string) => string[];
const spelling: Forms = (a) => [a];

function holds(
  c: CompiledCondition,
  cmd: SimpleCommand,
  args: string[],
  rule: CompiledRule,
  forms: Forms,
): boolean {
  const all = (values: string[]) => values.flatMap(forms);
  if (c.noArgs !== undefined && (args.length === 0) !== c.noArgs) return false;
  if (c.scriptFromStdin !== undefined) {
    const unverifiable = cmd.scriptInput !== null && UNVERIFIABLE.has(cmd.scriptInput);
    if (unverifiable !== c.scriptFromStdin) return false;
  }
  if (c.anyArg && !some(c.anyArg, all(args))) return false;
  if (c.operand || c.firstOperand) {
    const ops = operands(args, rule.optionsWithValue);
    if (c.operand && !some(c.operand, all(ops))) return false;
    if (c.firstOperand && !some(c.firstOperand, all(ops.slice(0, 1)))) return false;
  }
  if (c.killTarget) {
    const targets = killTargets(args).flatMap((t) => (forms === spelling ? [t] : pidForms(t)));
    if (!some(c.killTarget, targets)) return false;
  }
  if (
    c.optionValue &&
    !c.optionValue.every((o) =>
      all(optionValues(args, o.names, forms !== spelling)).some((v) => o.value.test(v)),
    )
  ) {
    return false;
  }
  return true;
}

function programMatches(rule: CompiledRule, cmd: SimpleCommand): boolean {
  const program = cmd.program;
  if (program === null) return false;
  if (cmd.programGlob !== null) {
    const glob = cmd.programGlob;
    return (rule.rule.programs ?? []).some((p) => globsIntersect(glob, p));
  }
  return rule.programs.some((m) => m.match(program));
}

/** directories: where the command line `cd`s, so a relative path is also matched as placed there. */
export function commandMatches(
  rule: CompiledRule,
  cmd: SimpleCommand,
  directories: readonly string[] = [],
): boolean {
  if (!programMatches(rule, cmd)) return false;
  const args = cmd.argv.slice(1).map(textOf);
  const forms: Forms = (a) => argumentForms(a, directories);
  if (rule.when && !rule.when.some((c) => holds(c, cmd, args, rule, forms))) return false;
  return !rule.unless.some((c) => holds(c, cmd, args, rule, spelling));
}

export function redirectMatches(
  rule: CompiledRule,
  r: Redirection,
  directories: readonly string[] = [],
): boolean {
  const targets = argumentForms(textOf(r.target), directories);
  return rule.redirectTo.some((re) => targets.some((t) => re.test(t)));
}
