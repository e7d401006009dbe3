// Every simple command a shell command line would run, found in its syntax tree: inside pipelines, lists, subshells,
// $(...), backticks, here-documents, wrappers (env, sudo, xargs, timeout…) and scripts parsed again (sh -c, eval).
// It only collects facts; it must never decide what is allowed and never read the raw text with patterns.
import { ShellSyntaxError, type ShellParser, type SyntaxNode } from './shell-parser.js';
import { nestedOf } from './shell-wrappers.js';
import { wordOf, type ShellWord } from './shell-words.js';

export interface SimpleCommand {
  argv: ShellWord[];
  /** Basename of the program when it is known before the shell runs; null for `$CMD args`. */
  program: string | null;
  /** The command as written (for a wrapped command: its words). */
  source: string;
  /** How it is reached from the top level, e.g. ['$(…)', 'sh -c']; empty at the top level. */
  via: string[];
}

export interface Redirection {
  operator: string;
  target: ShellWord;
  source: string;
  via: string[];
}

export interface ScriptFacts {
  commands: SimpleCommand[];
  redirects: Redirection[];
}

/** Scripts inside scripts deeper than this are refused rather than followed. */
const MAX_NESTING = 12;

export class NestingTooDeepError extends Error {}

const WRITE_OPERATORS = new Set(['>', '>>', '>|', '&>', '&>>', '<>', '>&']);

function programName(word: ShellWord | undefined): string | null {
  if (!word || word.value === null || word.value === '') return null;
  return word.value.split('/').pop() || null;
}

export function extractCommands(parser: ShellParser, source: string): ScriptFacts {
  const facts: ScriptFacts = { commands: [], redirects: [] };
  visitScript(parser, source, [], 0, facts);
  return facts;
}

function visitScript(
  parser: ShellParser,
  source: string,
  via: string[],
  depth: number,
  facts: ScriptFacts,
): void {
  if (depth > MAX_NESTING) throw new NestingTooDeepError(`scripts are nested more than ${MAX_NESTING} deep`);
  try {
    parser.parse(source, (root) => walk(root, via, depth, { parser, facts }));
  } catch (err) {
    if (err instanceof ShellSyntaxError && via.length > 0) {
      throw new ShellSyntaxError(
        `the script run by '${via[via.length - 1]}' does not parse: ${err.message}`,
        err.line,
        err.column,
      );
    }
    throw err;
  }
}

interface Ctx {
  parser: ShellParser;
  facts: ScriptFacts;
}

function walk(node: SyntaxNode, via: string[], depth: number, ctx: Ctx): void {
  if (node.type === 'command') visitCommand(node, via, depth, ctx);
  else if (node.type === 'file_redirect') visitRedirect(node, via, ctx);
  let inner = via;
  if (node.type === 'command_substitution') inner = [...via, node.text.startsWith('`') ? '`…`' : '$(…)'];
  else if (node.type === 'process_substitution') inner = [...via, `${node.text.slice(0, 1)}(…)`];
  for (const child of node.namedChildren) walk(child, inner, depth, ctx);
}

function visitRedirect(node: SyntaxNode, via: string[], ctx: Ctx): void {
  const operator = node.children.find((c) => !c.isNamed)?.type ?? '';
  const dest = node.childForFieldName('destination');
  if (!dest || !WRITE_OPERATORS.has(operator)) return;
  const target = wordOf(dest);
  if (operator === '>&' && /^(\d+|-)$/.test(target.value ?? '')) return; // fd duplication, not a file
  ctx.facts.redirects.push({ operator, target, source: node.text, via });
}

function visitCommand(node: SyntaxNode, via: string[], depth: number, ctx: Ctx): void {
  const name = node.childForFieldName('name');
  if (!name) return;
  const argv = [wordOf(name), ...node.childrenForFieldName('argument').map(wordOf)];
  const readsStdin = record(argv, node.text, via, depth, ctx);
  if (readsStdin) {
    const fed = scriptFedTo(node);
    if (fed !== null) visitScript(ctx.parser, fed.script, [...via, fed.via], depth + 1, ctx.facts);
  }
}

/** Records one simple command and what it runs in turn; true when a shell in it reads its script from stdin. */
function record(argv: ShellWord[], source: string, via: string[], depth: number, ctx: Ctx): boolean {
  if (depth > MAX_NESTING) throw new NestingTooDeepError(`commands are nested more than ${MAX_NESTING} deep`);
  const program = programName(argv[0]);
  ctx.facts.commands.push({ argv, program, source, via });
  if (program === null) return false;
  const nested = nestedOf(program, argv.slice(1));
  let readsStdin = nested.readsScriptFromStdin;
  for (const c of nested.commands) {
    const text = c.argv.map((w) => w.text).join(' ');
    readsStdin = record(c.argv, text, [...via, c.via], depth + 1, ctx) || readsStdin;
  }
  for (const s of nested.scripts) {
    visitScript(ctx.parser, s.script.value ?? s.script.text, [...via, s.via], depth + 1, ctx.facts);
  }
  return readsStdin;
}

/**
 * The text a shell reading standard input gets as its script, when it is written in the command line:
 * a here-document or here-string on it, or `echo …`/`printf …`/`cat <<EOF` piped into it.
 */
function scriptFedTo(cmd: SyntaxNode): { script: string; via: string } | null {
  const own = docOf(cmd);
  if (own !== null) return { script: own, via: 'here-document' };
  let stage: SyntaxNode = cmd;
  if (stage.parent?.type === 'redirected_statement') {
    const doc = docOf(stage.parent);
    if (doc !== null) return { script: doc, via: 'here-document' };
    stage = stage.parent;
  }
  const pipeline = stage.parent;
  if (pipeline?.type !== 'pipeline') return null;
  const stages = pipeline.namedChildren;
  const at = stages.findIndex((s) => s.id === stage.id);
  // `cat <<EOF | sh` puts the pipeline inside the here-document's redirect node.
  if (at === 0 && pipeline.parent?.type === 'heredoc_redirect') {
    const body = pipeline.parent.namedChildren.find((c) => c.type === 'heredoc_body');
    return body ? { script: body.text, via: 'pipe' } : null;
  }
  const prev = at > 0 ? stages[at - 1] : undefined;
  if (!prev) return null;
  const feeder = prev.type === 'redirected_statement' ? prev.childForFieldName('body') : prev;
  if (feeder?.type !== 'command') return null;
  const words = [feeder.childForFieldName('name'), ...feeder.childrenForFieldName('argument')]
    .filter((n): n is SyntaxNode => n !== null)
    .map(wordOf);
  const program = programName(words[0]);
  const args = words.slice(1).filter((w) => !/^-[neE]+$/.test(w.text));
  if (program === 'echo' || program === 'printf') {
    return {
      script: args
        .map((w) => w.value ?? w.text)
        .join(' ')
        .replaceAll('\\n', '\n'),
      via: 'pipe',
    };
  }
  if (program === 'cat') {
    const doc = docOf(feeder) ?? (prev.type === 'redirected_statement' ? docOf(prev) : null);
    return doc !== null ? { script: doc, via: 'pipe' } : null;
  }
  return null;
}

/** The body of a here-document or here-string attached to node. */
function docOf(node: SyntaxNode): string | null {
  for (const r of node.childrenForFieldName('redirect')) {
    if (r.type === 'heredoc_redirect') {
      const body = r.namedChildren.find((c) => c.type === 'heredoc_body');
      if (body) return body.text;
    }
    if (r.type === 'herestring_redirect') {
      const word = r.namedChildren[0];
      if (word) return wordOf(word).value ?? wordOf(word).text;
    }
  }
  return null;
}
