// Retention's deletions run once at start, before serving: the full sweep after the first answers gives the pages
// back and rotates saved outputs without deleting again.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('retention at start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-retention-start-'));
  const db = join(dataDir, 'sandbox.db');
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const yearAgo = () => new Date(Date.now() - 365 * 86_400_000).toISOString();
  /** Writes an audit row a year old (past the 90 days kept) and gives its id. */
  const oldAuditRow = (): number => {
    const raw = new Database(db);
    const id = raw
      .prepare(
        "INSERT INTO audit_log (session_id, owner, at, kind, sha256, status) VALUES ('s', 'o', ?, 'execute', '', 'ok')",
      )
      .run(yearAgo()).lastInsertRowid;
    raw.close();
    return Number(id);
  };
  const exists = (id: number): boolean => {
    const raw = new Database(db, { readonly: true });
    const row = raw.prepare('SELECT id FROM audit_log WHERE id = ?').get(id);
    raw.close();
    return row !== undefined;
  };
  const walBytes = () => {
    try {
      return statSync(`${db}-wal`).size;
    } catch {
      return 0;
    }
  };

  it('deletes what is past its time before the first answer, and not again in the sweep after it', async () => {
    h = await startStdio({ dataDir, args: ['--pool-size', '0'] });
    await h.close({ keepData: true });
    h = undefined;

    const before = oldAuditRow();
    h = await startStdio({ dataDir, args: ['--pool-size', '0'] });
    await h.client.listTools();
    expect(exists(before)).toBe(false); // the deletions ran before serving

    // A row past its time written after that: only a second run of the deletions would remove it.
    const after = oldAuditRow();
    expect(walBytes()).toBeGreaterThan(0);
    // The full sweep a moment after start ends with a checkpoint that empties the write-ahead log.
    const until = Date.now() + 15_000;
    while (walBytes() > 0 && Date.now() < until) await sleep(100);
    expect(walBytes()).toBe(0);
    expect(exists(after)).toBe(true);
  }, 60_000);
});
