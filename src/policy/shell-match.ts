// Decides whether one simple command or redirection matches one deny rule; pure, so every rule is unit-tested.
// It must never look at anything but the parsed words of a single command.
import { Minimatch } from 'minimatch';
import type { Redirection, SimpleCommand } from './shell-commands.js';
import type { ArgCondition, ShellRule } from './shell-rules.js';
import type { ShellWord } from './shell-words.js';

interface CompiledCondition {
  anyArg?: RegExp[];
  operand?: RegExp[];
  firstOperand?: RegExp[];
  optionValue?: Array<{ names: string[]; value: RegExp }>;
  killTarget?: RegExp[];
  noArgs?: boolean;
}

export interface CompiledRule {
  rule: ShellRule;
  programs: Minimatch[];
  when: CompiledCondition | null;
  unless: CompiledCondition[];
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
  return out;
}

export function compileRule(rule: ShellRule): CompiledRule {
  if (!rule.programs?.length && !rule.redirect_to?.length) {
    throw new RuleError(`rule '${rule.id}' names neither programs nor redirect_to`);
  }
  return {
    rule,
    programs: (rule.programs ?? []).map((p) => new Minimatch(p, { nocase: false, dot: true })),
    when: rule.when ? compileCondition(rule.id, rule.when) : null,
    unless: (rule.unless ?? []).map((c) => compileCondition(rule.id, c)),
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
  return targets.length === 0 && first === '-1' ? ['-1'] : targets;
}

function optionValues(args: string[], names: string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') break;
    for (const n of names) {
      if (a === n && i + 1 < args.length) found.push(args[i + 1] as string);
      else if (n.startsWith('--') && a.startsWith(n + '=')) found.push(a.slice(n.length + 1));
      else if (!n.startsWith('--') && n.length === 2 && a.startsWith(n) && a.length > 2)
        found.push(a.slice(2));
    }
  }
  return found;
}

const some = (res: RegExp[], values: string[]) => values.some((v) => res.some((r) => r.test(v)));

function holds(c: CompiledCondition, args: string[], withValue: Set<string>): boolean {
  if (c.noArgs !== undefined && (args.length === 0) !== c.noArgs) return false;
  if (c.anyArg && !some(c.anyArg, args)) return false;
  if (c.operand || c.firstOperand) {
    const ops = operands(args, withValue);
    if (c.operand && !some(c.operand, ops)) return false;
    if (c.firstOperand && !some(c.firstOperand, ops.slice(0, 1))) return false;
  }
  if (c.killTarget && !some(c.killTarget, killTargets(args))) return false;
  if (
    c.optionValue &&
    !c.optionValue.every((o) => optionValues(args, o.names).some((v) => o.value.test(v)))
  ) {
    return false;
  }
  return true;
}

export function commandMatches(rule: CompiledRule, cmd: SimpleCommand): boolean {
  const program = cmd.program;
  if (program === null || !rule.programs.some((m) => m.match(program))) return false;
  const args = cmd.argv.slice(1).map(textOf);
  if (rule.when && !holds(rule.when, args, rule.optionsWithValue)) return false;
  return !rule.unless.some((c) => holds(c, args, rule.optionsWithValue));
}

export function redirectMatches(rule: CompiledRule, r: Redirection): boolean {
  return rule.redirectTo.some((re) => re.test(textOf(r.target)));
}
