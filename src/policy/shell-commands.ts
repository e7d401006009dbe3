// Every simple command a shell command line would run, found in its syntax tree: inside pipelines, lists, subshells,
// $(...), backticks, here-documents, wrappers (env, sudo, xargs, timeout…) and scripts parsed again (sh -c, eval),
// and where each shell or interpreter reads its program from.
// It only collects facts; it must never decide what is allowed and never read the raw text with patterns.
import { normalizePath } from './shell-forms.js';
import { globBasename, globsIntersect } from './shell-globs.js';
import { ShellSyntaxError, type ShellParser, type SyntaxNode } from './shell-parser.js';
import { echoOutput, printfOutput } from './shell-printf.js';
import { isStreamPath, replacesStdin, stdinOf, UNVERIFIABLE, type StdinSource } from './shell-stdin.js';
import { KNOWN_PROGRAMS, nestedOf, type Nested } from './shell-wrappers.js';
import { wordOf, type ShellWord } from './shell-words.js';

export interface SimpleCommand {
  argv: ShellWord[];
  /** Basename of the program when it is known before the shell runs; null for `$CMD args`. */
  program: string | null;
  /** When that basename is a glob (`/usr/bin/unshar?`): the pattern, matched against names rather than spelled. */
  programGlob: string | null;
  /** The command as written (for a wrapped command: its words). */
  source: string;
  /** How it is reached from the top level, e.g. ['$(…)', 'sh -c']; empty at the top level. */
  via: string[];
  /** For a shell or interpreter that reads the program it runs from a stream: where that stream comes from. */
  scriptInput: StdinSource | null;
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
  /** Directories the line changes into with `cd`/`pushd` (literal ones), for placing relative paths. */
  directories: string[];
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
  const facts: ScriptFacts = { commands: [], redirects: [], directories: [] };
  // The command line's own standard input is /dev/null.
  visitScript(parser, source, [], 0, facts, 'none');
  return facts;
}

function visitScript(
  parser: ShellParser,
  source: string,
  via: string[],
  depth: number,
  facts: ScriptFacts,
  stdin: StdinSource,
): void {
  if (depth > MAX_NESTING) throw new NestingTooDeepError(`scripts are nested more than ${MAX_NESTING} deep`);
  try {
    parser.parse(source, (root) => {
      walk(root, via, depth, { parser, facts }, replacesStdin(root) ? 'unknown' : stdin);
    });
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

function walk(node: SyntaxNode, via: string[], depth: number, ctx: Ctx, stdin: StdinSource): void {
  if (node.type === 'command') visitCommand(node, via, depth, ctx, stdin);
  else if (node.type === 'file_redirect') visitRedirect(node, via, ctx);
  else if (hidesSubstitution(node)) visitFragment(node, via, depth, ctx, stdin);
  let inner = via;
  if (node.type === 'command_substitution') inner = [...via, node.text.startsWith('`') ? '`…`' : '$(…)'];
  else if (node.type === 'process_substitution') inner = [...via, `${node.text.slice(0, 1)}(…)`];
  for (const child of node.namedChildren) walk(child, inner, depth, ctx, stdin);
}

/** tree-sitter leaves backticks (and `$(` after `#`, `%`, `/`) inside `${a:-…}` as plain text. */
function hidesSubstitution(node: SyntaxNode): boolean {
  if (node.type !== 'word' && node.type !== 'regex') return false;
  const p = node.parent;
  const inExpansion =
    p?.type === 'expansion' || (p?.type === 'concatenation' && p.parent?.type === 'expansion');
  return inExpansion && /`|\$\(/.test(node.text);
}

/** Parses such text again as the argument of a command, and walks what it holds. */
function visitFragment(node: SyntaxNode, via: string[], depth: number, ctx: Ctx, stdin: StdinSource): void {
  const tries = node.text.includes('"') ? [`: ${node.text}`] : [`: "${node.text}"`, `: ${node.text}`];
  for (const [i, text] of tries.entries()) {
    try {
      ctx.parser.parse(text, (root) => {
        for (const cmd of root.namedChildren) {
          for (const arg of cmd.childrenForFieldName('argument')) walk(arg, via, depth, ctx, stdin);
        }
      });
      return;
    } catch (err) {
      if (!(err instanceof ShellSyntaxError) || i === tries.length - 1) throw err;
    }
  }
}

function visitRedirect(node: SyntaxNode, via: string[], ctx: Ctx): void {
  const operator = node.children.find((c) => !c.isNamed)?.type ?? '';
  const dest = node.childForFieldName('destination');
  if (!dest || !WRITE_OPERATORS.has(operator)) return;
  const target = wordOf(dest);
  if (operator === '>&' && /^(\d+|-)$/.test(target.value ?? '')) return; // fd duplication, not a file
  ctx.facts.redirects.push({ operator, target, source: node.text, via });
}

function visitCommand(
  node: SyntaxNode,
  via: string[],
  depth: number,
  ctx: Ctx,
  inherited: StdinSource,
): void {
  const name = node.childForFieldName('name');
  if (!name) return;
  const argv = [wordOf(name), ...ownArguments(node).map(wordOf)];
  const stdin = stdinOf(node, inherited);
  const readsStdin = record(argv, node.text, via, depth, ctx, stdin);
  if (readsStdin) {
    const fed = scriptFedTo(node);
    if (fed !== null) {
      const fedStdin = fed.via === 'pipe' ? 'pipe' : 'here-document';
      visitScript(ctx.parser, fed.script, [...via, fed.via], depth + 1, ctx.facts, fedStdin);
    }
  }
}

/** The command's arguments, less a number tree-sitter split off the redirection it opens (`sh 0< x`). */
function ownArguments(node: SyntaxNode): SyntaxNode[] {
  const args = node.childrenForFieldName('argument');
  const last = args.at(-1);
  const stmt = node.parent;
  if (last?.type !== 'number' || stmt?.type !== 'redirected_statement') return args;
  const first = stmt.childrenForFieldName('redirect')[0];
  return first && first.startIndex === last.endIndex ? args.slice(0, -1) : args;
}

/** Records one simple command and what it runs in turn; true when a shell in it reads its script from stdin. */
function record(
  argv: ShellWord[],
  source: string,
  via: string[],
  depth: number,
  ctx: Ctx,
  stdin: StdinSource,
): boolean {
  if (depth > MAX_NESTING) throw new NestingTooDeepError(`commands are nested more than ${MAX_NESTING} deep`);
  const program = programName(argv[0]);
  const programGlob = argv[0]?.glob ? globBasename(argv[0].glob) : null;
  const cmd: SimpleCommand = { argv, program, programGlob, source, via, scriptInput: null };
  ctx.facts.commands.push(cmd);
  if (program === null) return false;
  if (program === 'cd' || program === 'pushd') noteDirectory(argv.slice(1), ctx.facts);
  // A glob may name any program it matches: each one known to run something is followed.
  const names = programGlob ? KNOWN_PROGRAMS.filter((n) => globsIntersect(programGlob, n)) : [program];
  let readsStdin = false;
  for (const name of names) {
    const nested = nestedOf(name, argv.slice(1));
    const input = scriptInput(nested, stdin);
    if (input !== null && (cmd.scriptInput === null || UNVERIFIABLE.has(input))) cmd.scriptInput = input;
    readsStdin ||= nested.readsScriptFromStdin;
    for (const c of nested.commands) {
      const text = c.argv.map((w) => w.text).join(' ');
      readsStdin = record(c.argv, text, [...via, c.via], depth + 1, ctx, stdin) || readsStdin;
    }
    for (const s of nested.scripts) {
      visitScript(ctx.parser, s.script.value ?? s.script.text, [...via, s.via], depth + 1, ctx.facts, stdin);
    }
  }
  return readsStdin;
}

/** Where a shell or interpreter reads its program from, when that is a stream; null for a file or inline text. */
function scriptInput(nested: Nested, stdin: StdinSource): StdinSource | null {
  if (nested.readsScriptFromStdin || nested.readsProgramFromStdin) return stdin;
  const file = nested.scriptFile;
  if (!file) return null;
  if (/^[<>]\(/.test(file.text) && file.value === null) return 'stream'; // a process substitution
  if (file.value === null) return null;
  const path = normalizePath(file.value);
  if (/^\/(?:dev\/stdin|dev\/fd\/0|proc\/[^/]+\/fd\/0)$/.test(path)) return stdin;
  return isStreamPath(path) ? 'stream' : null;
}

function noteDirectory(args: ShellWord[], facts: ScriptFacts): void {
  const target = args.find((w) => !/^-[LPe@]*$/.test(w.value ?? w.text));
  if (target?.value) facts.directories.push(normalizePath(target.value));
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
  const args = words.slice(1).map((w) => w.value ?? w.text);
  if (program === 'echo' || program === 'printf') {
    const printed = program === 'echo' ? echoOutput(args) : printfOutput(args);
    return { script: printed ?? args.join(' '), via: 'pipe' };
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
