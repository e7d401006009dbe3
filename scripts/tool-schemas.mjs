// Build step: converts every tool's zod schemas to JSON Schema once, into dist/src/server/tool-schemas.json
// (see src/server/schema-snapshot.ts).
import { writeFileSync } from 'node:fs';
import { loadConfig } from '../dist/src/config.js';
import { allTools } from '../dist/src/server/registry.js';
import { SNAPSHOT_FILE, buildSnapshot } from '../dist/src/server/schema-snapshot.js';

const config = loadConfig({ dataDir: '/nonexistent' }, {});
writeFileSync(SNAPSHOT_FILE, JSON.stringify(buildSnapshot(allTools(config))));
