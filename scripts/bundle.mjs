// Build step: bundles the command and its JavaScript dependencies into dist/src/bin/sandbox-mcp.js, so a start loads
// one file instead of several hundred modules. Native and wasm-loading packages stay in node_modules. What no start
// needs stays out of the file V8 compiles at every start: zod's message translations other than English, and the
// SDK's Ajv JSON Schema validator (loaded from node_modules if a JSON Schema is ever validated); whitespace goes too
// (names are kept, so stack traces read as before; the source map maps them back).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const lazyValidator = fileURLToPath(new URL('./json-schema-validator-lazy.mjs', import.meta.url));

/** zod's `locales` namespace with English only (the language zod configures itself with). */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";',
      loader: 'js',
    }));
  },
};

/** The SDK's environment shims with the JSON Schema validator loaded on first use. */
const lazyJsonSchemaValidator = {
  name: 'lazy-json-schema-validator',
  setup(b) {
    b.onResolve({ filter: /^@modelcontextprotocol\/server\/_shims$/ }, (args) =>
      args.importer === lazyValidator ? undefined : { path: lazyValidator },
    );
  },
};

await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: 'dist/src/bin/sandbox-mcp.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  external: ['better-sqlite3', 'web-tree-sitter', 'tree-sitter-bash', 'dockerode'],
  plugins: [zodEnglishOnly, lazyJsonSchemaValidator],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __sandboxMcpRequire } from 'node:module';\nconst require = __sandboxMcpRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
