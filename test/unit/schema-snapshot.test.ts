// The build's tool JSON Schemas: identical to a live conversion, whatever the settings, and optional.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { allTools } from '../../src/server/registry.js';
import { buildSnapshot, loadSnapshot } from '../../src/server/schema-snapshot.js';

const BUILT = join(import.meta.dirname, '..', '..', 'dist', 'src', 'server', 'tool-schemas.json');
const defaults = loadConfig({ dataDir: '/nonexistent' }, {});

describe('tool schema snapshot', () => {
  it('the built file holds exactly what a live conversion gives', () => {
    const built = loadSnapshot(BUILT);
    expect(built, 'run npm run build').not.toBeNull();
    expect(built).toEqual(buildSnapshot(allTools(defaults)));
  });

  it('settings change tool descriptions, never schemas, so one snapshot serves every configuration', () => {
    const other = { ...defaults, timeoutS: 5, idleTtlS: 77, maxBackups: 3 };
    expect(allTools(other).map((t) => t.description)).not.toEqual(
      allTools(defaults).map((t) => t.description),
    );
    expect(buildSnapshot(allTools(other))).toEqual(buildSnapshot(allTools(defaults)));
  });

  it('is lean: no default dialect, no key or date-time noise, inputs inline, a repeated shape once under $defs', () => {
    const snap = buildSnapshot(allTools(defaults));
    const text = JSON.stringify(snap);
    expect(text).not.toContain('"$schema"');
    expect(text).not.toContain('"propertyNames"');
    expect(text).not.toContain('"additionalProperties":{}');
    expect(text).not.toMatch(/"format":"date-time","pattern"/);
    for (const [name, s] of Object.entries(snap)) {
      expect(JSON.stringify(s.input), `${name} input`).not.toContain('$ref');
      expect(JSON.stringify(s.output), `${name} output`).not.toContain('"additionalProperties":false');
    }
    // execute's created and changed lists share one Artifact definition.
    const execute = JSON.stringify(snap['execute']!.output);
    expect(execute.match(/"sha256":/g)).toHaveLength(1);
    expect(execute.match(/"\$ref":"#\/\$defs\/Artifact"/g)).toHaveLength(2);
    // The session_id argument, in almost every tool, says it in a few words.
    const sessionArg = (snap['execute']!.input['properties'] as Record<string, { description?: string }>)[
      'session_id'
    ];
    expect(sessionArg?.description?.length).toBeLessThan(40);
  });

  it('a missing or broken file is null', () => {
    const dir = mkdtempSync(join(tmpdir(), 'snap-'));
    const file = join(dir, 'tool-schemas.json');
    expect(loadSnapshot(file)).toBeNull();
    writeFileSync(file, '{"execute":');
    expect(loadSnapshot(file)).toBeNull();
    writeFileSync(file, '[]');
    expect(loadSnapshot(file)).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});
