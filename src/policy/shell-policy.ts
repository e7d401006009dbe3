// The shell command policy: parses a command with the real shell parser and checks every simple command and
// redirection in it against the deny rules, explaining the first match. It is a second layer behind the jail and
// must never be the reason a command is believed safe.
import { extractCommands, NestingTooDeepError, type ScriptFacts } from './shell-commands.js';
import { commandMatches, compileRule, redirectMatches, type CompiledRule } from './shell-match.js';
import { loadShellParser, ShellSyntaxError, type ShellParser } from './shell-parser.js';
import type { PolicySource } from './shell-policy-file.js';
import type { ShellRule } from './shell-rules.js';

export interface PolicyDenial {
  rule: { id: string; description: string; category: string; hint?: string };
  /** The simple command (or redirection) that matched, as written. */
  command: string;
  /** Where it sits: e.g. ['$(…)', 'sh -c']; empty at the top level. */
  via: string[];
}

export type PolicyVerdict = { allowed: true; commands: number } | ({ allowed: false } & PolicyDenial);

/** Why a command could not be checked: it does not parse, or nests scripts too deeply. */
export class CommandParseError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
    readonly column: number | null,
  ) {
    super(message);
    this.name = 'CommandParseError';
  }
}

export class ShellPolicy {
  readonly rules: readonly ShellRule[];

  private constructor(
    private readonly parser: ShellParser,
    private readonly compiled: readonly CompiledRule[],
    readonly source: string,
  ) {
    this.rules = compiled.map((c) => c.rule);
  }

  /** A policy of these rules; throws RuleError for a rule that does not compile. */
  static async create(rules: readonly ShellRule[], source = 'built-in defaults'): Promise<ShellPolicy> {
    return ShellPolicy.fromSource({ compiled: rules.map(compileRule), source });
  }

  /** A policy of rules already compiled (as the policy file loader hands them over). */
  static async fromSource(policy: Pick<PolicySource, 'compiled' | 'source'>): Promise<ShellPolicy> {
    return new ShellPolicy(await loadShellParser(), policy.compiled, policy.source);
  }

  /** Every simple command and redirection the command line contains; throws CommandParseError. */
  private facts(command: string): ScriptFacts {
    try {
      return extractCommands(this.parser, command);
    } catch (err) {
      if (err instanceof ShellSyntaxError) throw new CommandParseError(err.message, err.line, err.column);
      if (err instanceof NestingTooDeepError) throw new CommandParseError(err.message, null, null);
      throw err;
    }
  }

  check(command: string): PolicyVerdict {
    const facts = this.facts(command);
    const dirs = facts.directories;
    const first = this.compiled.filter((r) => !r.last);
    // Outer commands first, so `sudo mount` is reported as sudo, the thing the caller typed.
    for (const cmd of facts.commands) {
      const hit = first.find((r) => commandMatches(r, cmd, dirs));
      if (hit) return denial(hit.rule, cmd.source, cmd.via);
    }
    for (const r of facts.redirects) {
      const hit = this.compiled.find((c) => redirectMatches(c, r, dirs));
      if (hit) return denial(hit.rule, r.source, r.via);
    }
    // Then what cannot be read (piped scripts): a denied command inside readable piped text keeps its own rule.
    for (const cmd of facts.commands) {
      const hit = this.compiled.find((r) => r.last && commandMatches(r, cmd, dirs));
      if (hit) return denial(hit.rule, cmd.source, cmd.via);
    }
    return { allowed: true, commands: facts.commands.length };
  }
}

function denial(rule: ShellRule, command: string, via: string[]): PolicyVerdict {
  const r: PolicyDenial['rule'] = { id: rule.id, description: rule.description, category: rule.category };
  if (rule.hint) r.hint = rule.hint;
  return {
    allowed: false,
    rule: r,
    command: command.length > 500 ? command.slice(0, 500) + '…' : command,
    via,
  };
}
