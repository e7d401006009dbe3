// The audit log: written behind the call, hashed not stored, read back newest first and only by its owner.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { openDb, type Db } from '../../src/store/db.js';
import { FLUSH_MS } from '../../src/store/write-behind.js';

let dir: string;
let db: Db;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-'));
  db = openDb(join(dir, 'a.db'));
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = () => (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;

describe('AuditLog', () => {
  it('does not write on the caller’s path, then writes behind it when the flush interval ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const log = new AuditLog(db);
      const before = count();
      log.record({
        sessionId: 's1',
        owner: 'o1',
        kind: 'execute',
        subject: 'print(1)',
        status: 'ok',
        durationMs: 3,
      });
      expect(count()).toBe(before);
      await new Promise((r) => setImmediate(r));
      expect(count()).toBe(before);
      vi.advanceTimersByTime(FLUSH_MS - 1);
      expect(count()).toBe(before);
      vi.advanceTimersByTime(1);
      expect(count()).toBe(before + 1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps a sha256 of the subject, never its text', () => {
    const log = new AuditLog(db);
    log.record({ sessionId: 's2', owner: 'o2', kind: 'shell', subject: 'echo secret-value', status: 'ok' });
    const [e] = log.list('o2', undefined, 10);
    expect(e?.sha256).toBe(createHash('sha256').update('echo secret-value').digest('hex'));
    const raw = JSON.stringify(db.prepare('SELECT * FROM audit_log').all());
    expect(raw).not.toContain('secret-value');
  });

  it('lists newest first, by owner and session, with a limit', () => {
    const log = new AuditLog(db);
    for (let i = 0; i < 5; i++)
      log.record({
        sessionId: i % 2 ? 'a' : 'b',
        owner: 'o3',
        kind: 'execute',
        subject: `${i}`,
        status: 'ok',
      });
    log.record({
      sessionId: 'a',
      owner: 'someone-else',
      kind: 'policy_denied',
      subject: 'x',
      status: 'denied',
      detail: { rule: 'mount' },
    });
    const all = log.list('o3', undefined, 100);
    expect(all.map((e) => e.sha256)).toEqual(
      ['4', '3', '2', '1', '0'].map((s) => createHash('sha256').update(s).digest('hex')),
    );
    expect(log.list('o3', 'a', 100)).toHaveLength(2);
    expect(log.list('o3', undefined, 2)).toHaveLength(2);
    expect(log.list('o3', 'a', 100).every((e) => e.kind === 'execute')).toBe(true);
    expect(log.list('someone-else', 'a', 10)[0]).toMatchObject({
      kind: 'policy_denied',
      detail: { rule: 'mount' },
    });
  });
});
