// The tool registry as clients and docs see it: every tool documented, annotated and schema'd; docs/tools.md current.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildCatalog, toolsMarkdown } from '../../src/server/catalog.js';
import { allTools, toolsForProfile } from '../../src/server/registry.js';
import { SERVER_NAME, SERVER_VERSION } from '../../src/server/server.js';

const config = loadConfig({ dataDir: '/nonexistent' }, {});

describe('tool registry', () => {
  it('gives every tool a description, input and output schema and all four annotations', () => {
    const names = new Set<string>();
    for (const t of allTools(config)) {
      expect(names.has(t.name), `duplicate ${t.name}`).toBe(false);
      names.add(t.name);
      expect(t.description.length, t.name).toBeGreaterThan(40);
      expect(t.inputSchema.def.type, t.name).toBe('object');
      expect(t.outputSchema.def.type, t.name).toBe('object');
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof t.annotations[hint], `${t.name}.${hint}`).toBe('boolean');
      }
    }
  });

  it('keeps the seed tool names', () => {
    const names = allTools(config).map((t) => t.name);
    for (const n of [
      'execute',
      'execute_with_artifacts',
      'list_artifacts',
      'get_artifact_report',
      'categorize_artifacts',
      'cleanup_artifacts_by_type',
      'get_execution_info',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('puts a subset of tools in the core profile', () => {
    const core = toolsForProfile(config, 'core').map((t) => t.name);
    const full = toolsForProfile(config, 'full').map((t) => t.name);
    expect(core.length).toBeLessThan(full.length);
    expect(core).toEqual(
      expect.arrayContaining(['execute', 'create_session', 'write_file', 'read_file', 'list_artifacts']),
    );
  });

  it('has docs/tools.md generated from the current registry (npm run docs)', () => {
    const expected = toolsMarkdown(buildCatalog(config, { name: SERVER_NAME, version: SERVER_VERSION }));
    expect(readFileSync('docs/tools.md', 'utf8')).toBe(expected);
  });
});
