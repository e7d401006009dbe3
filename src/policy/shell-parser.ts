// The shell parser: tree-sitter's bash grammar (wasm), loaded once, turning a command string into a syntax tree;
// it must never guess at a command's structure from its text, and never hand out a tree after freeing it.
import { createRequire } from 'node:module';
import type { Node } from 'web-tree-sitter';

export type SyntaxNode = Node;

/** The command does not parse; line and column are 1-based. */
export class ShellSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'ShellSyntaxError';
  }
}

export interface ShellParser {
  /** Parses source and hands the root to `use`; the tree is freed when `use` returns, so copy what you keep. */
  parse<T>(source: string, use: (root: SyntaxNode) => T): T;
}

let loading: Promise<ShellParser> | undefined;

/** Loads the grammar once per process (about 40 ms); later calls share it. */
export function loadShellParser(): Promise<ShellParser> {
  loading ??= (async () => {
    // Imported here, not at the top: the server's start-up does not pay for a module only shell calls need.
    const { Language, Parser } = await import('web-tree-sitter');
    await Parser.init();
    const require = createRequire(import.meta.url);
    const language = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    const withTree = <T>(source: string, use: (root: SyntaxNode) => T): T => {
      const tree = parser.parse(source);
      if (!tree) throw new ShellSyntaxError('the command could not be parsed', 1, 1);
      try {
        if (tree.rootNode.hasError) throw syntaxError(tree.rootNode, source);
        return use(tree.rootNode);
      } finally {
        tree.delete();
      }
    };
    return {
      parse<T>(source: string, use: (root: SyntaxNode) => T): T {
        // The shell removes line continuations before it splits words; tree-sitter splits words at them instead.
        const joined = source.includes('\\\n')
          ? withTree(source, (root) => joinContinuations(root, source))
          : source;
        return withTree(joined, use);
      },
    };
  })();
  return loading;
}

/**
 * The source with every backslash-newline removed where the shell removes it: everywhere but inside single quotes,
 * comments and here-documents whose delimiter is quoted.
 */
function joinContinuations(root: SyntaxNode, source: string): string {
  let out = '';
  let from = 0;
  for (let i = source.indexOf('\\\n'); i >= 0; i = source.indexOf('\\\n', i + 1)) {
    let run = 0;
    while (i - run - 1 >= 0 && source[i - run - 1] === '\\') run++;
    if (run % 2 === 1 || kept(root.descendantForIndex(i, i + 1))) continue; // an escaped backslash, or literal text
    out += source.slice(from, i);
    from = i + 2;
  }
  return out + source.slice(from);
}

function kept(node: SyntaxNode | null): boolean {
  for (let n = node; n; n = n.parent) {
    if (n.type === 'raw_string' || n.type === 'comment' || n.type === 'ansi_c_string') return true;
    if (n.type === 'heredoc_body') {
      const start = n.parent?.namedChildren.find((c) => c.type === 'heredoc_start')?.text ?? '';
      return /['"\\]/.test(start);
    }
  }
  return false;
}

function firstProblem(node: SyntaxNode): SyntaxNode | null {
  if (node.isError || node.isMissing) return node;
  for (const child of node.children) {
    if (child.hasError || child.isMissing) {
      const found = firstProblem(child);
      if (found) return found;
    }
  }
  return null;
}

// tree-sitter recovers from errors instead of explaining them, so the message is built from where recovery began.
function syntaxError(root: SyntaxNode, source: string): ShellSyntaxError {
  const bad = firstProblem(root) ?? root;
  const line = bad.startPosition.row + 1;
  const column = bad.startPosition.column + 1;
  const at = `line ${line}, column ${column}`;
  if (bad.isMissing) {
    return new ShellSyntaxError(`syntax error at ${at}: expected ${describeMissing(bad.type)}`, line, column);
  }
  const rest = source.slice(bad.startIndex).trimEnd();
  if (bad.endIndex >= source.trimEnd().length) {
    const opened = rest.slice(0, 20).split('\n')[0];
    return new ShellSyntaxError(
      `syntax error at ${at}: unexpected end of input after '${opened}' (an unclosed quote, bracket, $( or here-document?)`,
      line,
      column,
    );
  }
  const token = rest.slice(0, 20).split('\n')[0] ?? '';
  return new ShellSyntaxError(`syntax error at ${at}: unexpected '${token}'`, line, column);
}

function describeMissing(type: string): string {
  if (type === 'word' || type === 'command_name') return 'a command';
  if (/^[a-z_]+$/.test(type)) return type.replaceAll('_', ' ');
  return `'${type}'`;
}
