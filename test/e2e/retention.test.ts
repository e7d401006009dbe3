// Retention through the real server: history is trimmed per session to --history-keep, large code is kept as its head
// and sha256, saved long outputs rotate to --outputs-keep, and on the next start audit and history rows past their
// age and closed sessions' rows are deleted with their pages given back to the disk; doctor shows the size by kind.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, startStdio, type Harness } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('retention', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-retention-'));
  const db = join(dataDir, 'sandbox.db');
  const dbBytes = () =>
    statSync(db).size +
    (() => {
      try {
        return statSync(`${db}-wal`).size;
      } catch {
        return 0;
      }
    })();
  let h: Harness | undefined;
  let sid = '';
  afterAll(async () => {
    await h?.close({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cells = async (): Promise<string[]> => {
    const nb = await h!.sc('export_notebook', { session_id: sid });
    const text = readFileSync(join(dataDir, 'sessions', sid, 'workspace', nb.path), 'utf8');
    return JSON.parse(text).cells.map((c: { source: string[] | string }) => [c.source].flat().join(''));
  };

  it('keeps the newest --history-keep calls, large code as head and hash, --outputs-keep saved outputs', async () => {
    h = await startStdio({
      dataDir,
      args: ['--pool-size', '0', '--history-keep', '5', '--outputs-keep', '3'],
    });
    sid = (await h.sc('create_session', {})).session_id;
    for (let i = 1; i <= 8; i++) await h.sc('execute', { session_id: sid, code: `n = ${i}` });
    expect(await cells()).toEqual(['n = 4', 'n = 5', 'n = 6', 'n = 7', 'n = 8']);

    const before = dbBytes();
    for (let i = 0; i < 4; i++) {
      const r = await h.sc('execute', {
        session_id: sid,
        code: `s = "${'x'.repeat(900_000)}"\nlen(s) + ${i}`,
      });
      expect(r.status).toBe('ok');
    }
    const big = (await cells()).at(-1)!;
    expect(big.length).toBeLessThan(8192);
    expect(big).toMatch(/sha256 [0-9a-f]{64}/);
    expect(dbBytes() - before).toBeLessThan(1 << 20); // four cells of 900 kB, not 3.6 MB more

    for (let i = 0; i < 6; i++) {
      const r = await h.sc('execute', { session_id: sid, code: `print("${i}" * 100_000)` });
      expect(r.stdout_truncated).toBe(true);
    }
    const saved = readdirSync(join(dataDir, 'sessions', sid, 'workspace', '.sandbox', 'outputs'));
    expect(saved.sort()).toEqual(['16.stdout.txt', '17.stdout.txt', '18.stdout.txt']);
  });

  it('on the next start deletes audit and history rows past their age and closed sessions, and gives the space back', async () => {
    const other = (await h!.sc('create_session', {})).session_id;
    await h!.sc('execute', { session_id: other, code: `print("${'y'.repeat(30_000)}")` });
    await h!.sc('close_session', { session_id: other });
    // Many large history rows (one session each, so the per-session count keeps them): pages to give back later.
    for (let i = 0; i < 6; i++) {
      const s = (await h!.sc('create_session', {})).session_id;
      for (let j = 0; j < 8; j++)
        await h!.sc('execute', { session_id: s, code: `print("${'z'.repeat(30_000)}")\n${j}` });
    }
    expect((await h!.sc('get_audit_log', { session_id: sid })).entries.length).toBeGreaterThan(0);
    await h!.close({ keepData: true });
    h = undefined;
    // The closed session's row is an hour old by the time the server starts again.
    const raw = new Database(db);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    raw.prepare('UPDATE sessions SET closed_at = ? WHERE id = ?').run(hourAgo, other);
    expect(raw.prepare('SELECT count(*) AS n FROM executions').get()).toMatchObject({
      n: expect.any(Number),
    });
    raw.close();
    const before = dbBytes();
    await sleep(1500);

    // A day is 86,400 s: these ages are about a second.
    h = await startStdio({
      dataDir,
      args: ['--pool-size', '0', '--audit-days', '0.00001', '--history-days', '0.00001'],
    });
    expect((await h.sc('get_audit_log', { session_id: sid })).entries).toEqual([]);
    expect(await cells()).toEqual([]);
    await h.close({ keepData: true });
    h = undefined;
    const check = new Database(db, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM sessions WHERE id = ?').get(other)).toEqual({ n: 0 });
    expect(check.prepare('SELECT count(*) AS n FROM executions').get()).toEqual({ n: 0 });
    check.close();
    expect(dbBytes()).toBeLessThan(before / 2);
  });

  it('doctor shows the data dir by kind', () => {
    let out: string;
    try {
      out = execFileSync(process.execPath, [CLI, 'doctor', '--json', '--data-dir', dataDir], {
        encoding: 'utf8',
      });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? ''); // exits 1 when a protection is missing
    }
    const usage = JSON.parse(out).data_dir;
    expect(usage.path).toBe(dataDir);
    expect(usage.bytes.database).toBeGreaterThan(0);
    expect(usage.bytes.saved_outputs).toBeGreaterThan(200_000);
    expect(usage.total_bytes).toBeGreaterThanOrEqual(usage.bytes.database + usage.bytes.saved_outputs);
  });
});
