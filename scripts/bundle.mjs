// Build step: bundles the command and its JavaScript dependencies into dist/src/bin/sandbox-mcp.js, so a start loads
// one file instead of several hundred modules. Native and wasm-loading packages stay in node_modules. What no start
// needs stays out of the file V8 compiles at every start: zod's message translations other than English, and the
// SDK's Ajv JSON Schema validator (loaded from node_modules if a JSON Schema is ever validated); whitespace goes too
// (names are kept, so stack traces read as before; the source map maps them back). The SDK's JSON-RPC guards ask
// src/server/jsonrpc-fast.ts first, which decides the usual message shapes without a zod parse.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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

const fastVerdicts = fileURLToPath(new URL('../dist/src/server/jsonrpc-fast.js', import.meta.url));
const GUARDS = {
  isJSONRPCRequest: ['JSONRPCRequestSchema', 'requestVerdict'],
  isJSONRPCNotification: ['JSONRPCNotificationSchema', 'notificationVerdict'],
  isJSONRPCResultResponse: ['JSONRPCResultResponseSchema', 'resultResponseVerdict'],
  isJSONRPCErrorResponse: ['JSONRPCErrorResponseSchema', 'errorResponseVerdict'],
};

/**
 * The SDK's JSON-RPC guards (several zod parses per call: every message in, every response out) ask first the
 * verdicts of src/server/jsonrpc-fast.ts, which decide the usual shapes as the schema would and leave it the rest.
 * A guard not found as written is left as it is.
 */
const fastJsonRpcGuards = {
  name: 'fast-json-rpc-guards',
  setup(b) {
    const replaced = new Set();
    // An SDK release that writes a guard otherwise would drop the fast path unseen: the build says so instead.
    b.onEnd(() => {
      const missed = Object.keys(GUARDS).filter((g) => !replaced.has(g));
      if (missed.length > 0)
        throw new Error(`bundle: the SDK's JSON-RPC guards were not found as written: ${missed.join(', ')}`);
    });
    b.onLoad({ filter: /[\\/]@modelcontextprotocol[\\/]server[\\/]dist[\\/][^\\/]+\.mjs$/ }, async (args) => {
      let text = await readFile(args.path, 'utf8');
      let found = 0;
      for (const [guard, [schema, verdict]] of Object.entries(GUARDS)) {
        const plain = `const ${guard} = (value) => ${schema}.safeParse(value).success;`;
        if (!text.includes(plain)) continue;
        replaced.add(guard);
        text = text.replace(
          plain,
          `const ${guard} = (value) => __fast.${verdict}(value) ?? ${schema}.safeParse(value).success;`,
        );
        found++;
      }
      if (found === 0) return undefined;
      return {
        // On the file's first line, so its source map still matches every line.
        contents: `import * as __fast from ${JSON.stringify(fastVerdicts)};${text}`,
        loader: 'js',
        resolveDir: dirname(args.path),
      };
    });
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
  plugins: [zodEnglishOnly, lazyJsonSchemaValidator, fastJsonRpcGuards],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __sandboxMcpRequire } from 'node:module';\nconst require = __sandboxMcpRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
