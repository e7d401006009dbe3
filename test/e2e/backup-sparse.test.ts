// The attack: sparse files of 1 GiB cost the box no disk, but a backup stored every byte of them as blobs. A backup
// now holds files up to its byte budget (--backup-max-mb, 1024 by default, apparent size), leaving the largest out
// with the reason, stores what it keeps with its holes, and rolling back to it restores the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startStdio, type Harness } from './harness.js';
import { GIB, MIB, diskUsage, makeSparse } from './sparse-files.js';

describe('backups of sparse files', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('skips what passes the byte budget with its reason, keeps blobs small, and rolls back the rest', async () => {
    const made = await h.sc('execute', {
      session_id: sid,
      code:
        makeSparse({ 'big0.bin': GIB, 'big1.bin': GIB, 'data/mid.bin': 64 * MIB }) +
        "\nopen('keep.txt', 'w').write('kept')",
    });
    expect(made.status).toBe('ok');
    const b = await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'sparse' });
    expect(b.file_count).toBe(2);
    expect(b.total_size).toBe(64 * MIB + 4);
    const skipped = Object.fromEntries(
      (b.skipped as Array<{ path: string; reason: string }>).map((s) => [s.path, s.reason]),
    );
    for (const big of ['big0.bin', 'big1.bin']) {
      expect(skipped[big]).toMatch(/1 GiB would pass the backup's byte budget of 1 GiB \(--backup-max-mb\)/);
    }
    expect(diskUsage(join(h.dataDir, 'blobs'))).toBeLessThan(4 * MIB);

    await h.sc('execute', {
      session_id: sid,
      code: "import os\nopen('keep.txt', 'w').write('changed')\nos.remove('data/mid.bin')",
    });
    const r = await h.call(
      'rollback_to_backup',
      { session_id: sid, backup_name: 'sparse' },
      { timeout: 180_000 },
    );
    expect(r.isError).toBeFalsy();
    const rolled = r.structuredContent as Record<string, any>;
    expect((rolled.not_backed_up as Array<{ path: string }>).map((s) => s.path)).toEqual(
      expect.arrayContaining(['big0.bin', 'big1.bin']),
    );
    const after = await h.sc('execute', {
      session_id: sid,
      code: "import os\nf = open('data/mid.bin', 'rb'); f.seek(-1, 2)\nopen('keep.txt').read(), os.path.getsize('data/mid.bin'), f.read()",
    });
    expect(after.result['text/plain']).toBe(`('kept', ${64 * MIB}, b'\\x01')`);
  }, 240_000);
});
