// The build's tool JSON Schemas: identical to a live conversion, and used only for the settings they were built from.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { allTools } from '../../src/server/registry.js';
import { buildSnapshot, loadSnapshot, snapshotKey } from '../../src/server/schema-snapshot.js';

const BUILT = join(import.meta.dirname, '..', '..', 'dist', 'src', 'server', 'tool-schemas.json');

describe('tool schema snapshot', () => {
  it('the built file holds exactly what a live conversion gives for the default settings', () => {
    const config = loadConfig({ dataDir: '/nonexistent' }, {});
    const key = snapshotKey(config);
    const built = loadSnapshot(key, BUILT);
    expect(built, 'run npm run build').not.toBeNull();
    expect(built).toEqual(buildSnapshot(allTools(config), key).tools);
  });

  it('is ignored for other settings, a missing file or a broken one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'snap-'));
    const file = join(dir, 'tool-schemas.json');
    const config = loadConfig({ dataDir: '/nonexistent' }, {});
    writeFileSync(file, JSON.stringify(buildSnapshot(allTools(config), snapshotKey(config))));
    expect(loadSnapshot(snapshotKey(config), file)).not.toBeNull();
    expect(loadSnapshot(snapshotKey({ ...config, timeoutS: 5 }), file)).toBeNull();
    expect(loadSnapshot(snapshotKey(config), join(dir, 'missing.json'))).toBeNull();
    writeFileSync(file, '{"key":');
    expect(loadSnapshot(snapshotKey(config), file)).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});
