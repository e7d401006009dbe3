// Writes docs/tools.md from the compiled tool registry (run `npm run docs`); CI checks it is current.
import { writeFileSync } from 'node:fs';
import { buildCatalog, toolsMarkdown } from '../dist/src/server/catalog.js';
import { loadConfig } from '../dist/src/config.js';
import { SERVER_NAME, SERVER_VERSION } from '../dist/src/server/server.js';

// Defaults only: the docs describe the server as shipped, not this machine's environment.
const config = loadConfig({ dataDir: '/nonexistent' }, {});
writeFileSync(
  'docs/tools.md',
  toolsMarkdown(buildCatalog(config, { name: SERVER_NAME, version: SERVER_VERSION })),
);
console.log('wrote docs/tools.md');
