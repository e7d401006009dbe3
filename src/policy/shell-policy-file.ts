// Reads the shell policy file (JSON) named by --policy-file / SANDBOX_MCP_POLICY and merges it with the defaults;
// a file that does not validate stops the server at start, it is never half-applied.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { compileRule, RuleError, type CompiledRule } from './shell-match.js';
import { DEFAULT_RULES, type ShellRule } from './shell-rules.js';

const Patterns = z.array(z.string().min(1)).min(1);

const Condition = z.strictObject({
  any_arg: Patterns.optional(),
  operand: Patterns.optional(),
  first_operand: Patterns.optional(),
  option_value: z
    .array(z.strictObject({ names: z.array(z.string().min(2)).min(1), value: z.string().min(1) }))
    .optional(),
  kill_target: Patterns.optional(),
  no_args: z.boolean().optional(),
  script_from_stdin: z.boolean().optional(),
});

const Rule = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'ids are lower-case words joined by - _ or .'),
  description: z.string().min(1),
  category: z.string().min(1).default('custom'),
  hint: z.string().optional(),
  programs: z.array(z.string().min(1)).optional(),
  when: z.union([Condition, z.array(Condition).min(1)]).optional(),
  unless: z.array(Condition).optional(),
  options_with_value: z.array(z.string()).optional(),
  redirect_to: Patterns.optional(),
});

export const PolicyFileSchema = z.strictObject({
  /** Keep the built-in rules (default); false starts from none. */
  defaults: z.boolean().default(true),
  /** Ids of built-in rules to drop. */
  disable: z.array(z.string()).default([]),
  /** Added after the defaults; a rule with a default's id replaces it. */
  rules: z.array(Rule).default([]),
});

export type PolicyFile = z.infer<typeof PolicyFileSchema>;

export interface PolicySource {
  rules: ShellRule[];
  /** The same rules, compiled (in the same order). */
  compiled: CompiledRule[];
  /** 'built-in defaults', or the file's path. */
  source: string;
}

/** The rules in force: the defaults, changed by the file when there is one. */
export function mergePolicy(file: PolicyFile | null, path = 'built-in defaults'): PolicySource {
  if (!file) return { rules: [...DEFAULT_RULES], compiled: DEFAULT_RULES.map(compileRule), source: path };
  const known = new Set(DEFAULT_RULES.map((r) => r.id));
  const unknown = file.disable.filter((id) => !known.has(id));
  if (unknown.length)
    throw new Error(`policy file ${path}: 'disable' names unknown rules: ${unknown.join(', ')}`);
  const added = new Map(file.rules.map((r) => [r.id, r as ShellRule]));
  if (added.size !== file.rules.length) throw new Error(`policy file ${path}: two rules share an id`);
  const base = file.defaults ? DEFAULT_RULES.filter((r) => !file.disable.includes(r.id)) : [];
  const rules = base.map((r) => added.get(r.id) ?? r);
  for (const r of file.rules) if (!base.some((b) => b.id === r.id)) rules.push(r as ShellRule);
  const compiled = rules.map((r) => {
    try {
      return compileRule(r);
    } catch (err) {
      if (err instanceof RuleError) throw new Error(`policy file ${path}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  return { rules, compiled, source: path };
}

export function loadPolicyFile(path: string | undefined): PolicySource {
  if (!path) return mergePolicy(null);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read policy file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = PolicyFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`invalid policy file ${path}: ${issues}`);
  }
  return mergePolicy(parsed.data, path);
}
