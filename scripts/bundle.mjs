// Build step: bundles the command and its JavaScript dependencies into dist/src/bin/sandbox-mcp.js, so a start loads
// one file instead of several hundred modules. Native and wasm-loading packages stay in node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: 'dist/src/bin/sandbox-mcp.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external: ['better-sqlite3', 'web-tree-sitter', 'tree-sitter-bash', 'dockerode'],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __sandboxMcpRequire } from 'node:module';\nconst require = __sandboxMcpRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
