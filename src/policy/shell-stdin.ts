// Where a simple command's standard input comes from, read off the syntax tree: its own redirections, those of
// the statements around it, a pipe, or what its script inherited. When it cannot tell, it says 'unknown'.
import { normalizePath } from './shell-forms.js';
import type { SyntaxNode } from './shell-parser.js';
import { wordOf } from './shell-words.js';

/**
 * 'none': nothing to read (the command line's own stdin is /dev/null); 'here-document': a here-document or
 * here-string written in the command line; 'file': a file redirected in (`< x.sh`, like `sh x.sh`); 'pipe': the
 * output of another command; 'stream': a process substitution, /dev/fd/N, /dev/stdin or /dev/tcp; 'unknown':
 * a descriptor of unknown origin, a function's caller, or a stdin replaced with `exec <`.
 */
export type StdinSource = 'none' | 'here-document' | 'file' | 'pipe' | 'stream' | 'unknown';

/** What a program reading it gets is text the policy cannot read. */
export const UNVERIFIABLE: ReadonlySet<StdinSource> = new Set(['pipe', 'stream', 'unknown']);

/** Paths that are a stream rather than a file, however the path is spelled (after normalization). */
const STREAM_PATH = /^\/(?:dev\/(?:stdin|fd\/\d+|tcp\/.*|udp\/.*)|proc\/[^/]+\/fd\/\d+)$/;

export function isStreamPath(path: string): boolean {
  return STREAM_PATH.test(path);
}

/** Standard input of the command node, given what the script it sits in inherited. */
export function stdinOf(cmd: SyntaxNode, inherited: StdinSource): StdinSource {
  let from: SyntaxNode | null = null;
  for (let n: SyntaxNode | null = cmd; n; from = n, n = n.parent) {
    // A statement's redirections apply to its body, not to substitutions in its words or redirections.
    const own =
      n === cmd || (n.type === 'redirected_statement' && n.childForFieldName('body')?.id === from?.id);
    if (own) {
      const r = redirectedStdin(n);
      if (r !== null) return r;
    }
    const parent: SyntaxNode | null = n.parent;
    // `cat <<EOF | sh` puts the pipeline inside the here-document's redirection: its first stage is fed by cat.
    const fed = parent?.parent?.type === 'heredoc_redirect' || parent?.namedChildren[0]?.id !== n.id;
    if (parent?.type === 'pipeline' && fed) return 'pipe';
    if (n.type === 'function_definition' && from !== null) return 'unknown';
  }
  return inherited;
}

/** True when the script replaces its own standard input (`exec < file`, `exec 0<&3`) somewhere. */
export function replacesStdin(root: SyntaxNode): boolean {
  return root.descendantsOfType('command').some((c) => {
    const name = c.childForFieldName('name');
    if (!name || wordOf(name).value !== 'exec' || c.childrenForFieldName('argument').length > 1) return false;
    return redirectedStdin(c) !== null || (c.parent !== null && redirectedStdin(c.parent) !== null);
  });
}

/** The last redirection of standard input on node, or null when it has none. */
function redirectedStdin(node: SyntaxNode): StdinSource | null {
  let found: StdinSource | null = null;
  for (const r of node.childrenForFieldName('redirect')) {
    const s = stdinRedirect(r);
    if (s !== null) found = s;
  }
  return found;
}

function stdinRedirect(r: SyntaxNode): StdinSource | null {
  if (r.type === 'heredoc_redirect' || r.type === 'herestring_redirect') {
    return descriptor(r) === 0 ? 'here-document' : null;
  }
  if (r.type !== 'file_redirect') return null;
  const op = r.children.find((c) => !c.isNamed)?.type ?? '';
  if (!['<', '<>', '<&', '<&-'].includes(op) || descriptor(r) !== 0) return null;
  const dest = r.childForFieldName('destination');
  if (op === '<&-') return 'none';
  if (!dest) return 'unknown';
  const target = wordOf(dest);
  if (op === '<&') return target.value === '-' ? 'none' : target.value === '0' ? null : 'unknown';
  if (dest.type === 'process_substitution') return 'stream';
  return target.value !== null && isStreamPath(normalizePath(target.value)) ? 'stream' : 'file';
}

/** The descriptor a redirection applies to: written before it, or 0 for an input redirection without one. */
function descriptor(r: SyntaxNode): number {
  const fd = r.namedChildren.find((c) => c.type === 'file_descriptor');
  if (fd) return Number(fd.text);
  // tree-sitter reads `cmd 3< x` as an argument `3` followed by `< x`: a number right before it is its descriptor.
  const cmd = r.parent?.childForFieldName('body');
  const last = cmd?.type === 'command' ? cmd.namedChildren.at(-1) : undefined;
  if (last?.type === 'number' && last.endIndex === r.startIndex && /^\d+$/.test(last.text))
    return Number(last.text);
  return 0;
}
