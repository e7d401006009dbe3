// The write-behind queue on a real SQLite database: batching, a failing timed write reported and survived, and the
// queue history and audit share.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/store/db.js';
import { FLUSH_MS, WriteBehind, deferredWrites } from '../../src/store/write-behind.js';
import { SessionsRepo } from '../../src/store/sessions-repo.js';
import { HistoryWriter } from '../../src/sessions/history.js';
import { AuditLog } from '../../src/audit/log.js';

let dir: string;
let db: Db;
afterEach(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

function fresh(): Db {
  dir = mkdtempSync(join(tmpdir(), 'write-behind-'));
  db = openDb(join(dir, 'test.db'));
  db.exec('CREATE TABLE t (v INTEGER)');
  return db;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WriteBehind', () => {
  it('writes queued rows in one batch after FLUSH_MS, or at once on flush()', async () => {
    const d = fresh();
    const batches: number[][] = [];
    const q = new WriteBehind<number>(d, (items) => {
      batches.push(items);
      for (const v of items) d.prepare('INSERT INTO t (v) VALUES (?)').run(v);
    });
    q.push(1);
    q.push(2);
    expect(batches).toEqual([]);
    await wait(FLUSH_MS + 100);
    expect(batches).toEqual([[1, 2]]);
    q.push(3);
    q.flush();
    expect(d.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });

  it('reports a failing timed write, rolls it back and keeps working', async () => {
    const d = fresh();
    const errors: unknown[] = [];
    let fail = true;
    const q = new WriteBehind<number>(
      d,
      (items) => {
        for (const v of items) d.prepare('INSERT INTO t (v) VALUES (?)').run(v);
        if (fail) throw new Error('disk full');
      },
      (err) => errors.push(err),
    );
    q.push(1);
    await wait(FLUSH_MS + 100);
    expect(errors.map(String)).toEqual(['Error: disk full']);
    expect(d.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    fail = false;
    q.push(2);
    expect(() => q.flush()).not.toThrow();
    expect(d.prepare('SELECT v FROM t').all()).toEqual([{ v: 2 }]);
    fail = true;
    q.push(3);
    expect(() => q.flush()).toThrow('disk full'); // a direct flush lets its caller see the failure
  });
});

describe('deferredWrites shared by history and audit', () => {
  it('writes both kinds in one batch, and only the newest use of a session', async () => {
    dir = mkdtempSync(join(tmpdir(), 'write-behind-'));
    db = openDb(join(dir, 'sandbox.db'));
    const writes = deferredWrites(db);
    const sessions = new SessionsRepo(db);
    const at = '2026-11-28T00:00:00.000Z';
    sessions.insert({
      id: 's_1',
      owner: 'o',
      name: null,
      is_default: 0,
      created_at: at,
      last_used_at: at,
      timeout_s: 60,
      memory_mb: 1024,
      pids: 256,
      network: 'none',
    });
    const history = new HistoryWriter(db, sessions, writes);
    const audit = new AuditLog(db, writes);
    let updates = 0;
    const used = sessions.used.bind(sessions);
    sessions.used = (...args) => {
      updates++;
      used(...args);
    };
    history.used('s_1', '2026-11-28T00:00:01.000Z', 1);
    history.record(
      {
        session_id: 's_1',
        execution_count: 1,
        kind: 'python',
        code: '1',
        status: 'ok',
        started_at: at,
        duration_ms: 1,
      },
      { stdout: 'x' },
    );
    history.used('s_1', '2026-11-28T00:00:02.000Z', 1);
    audit.record({ sessionId: 's_1', owner: 'o', kind: 'execute', subject: '1', status: 'ok' });
    await wait(FLUSH_MS + 100);
    expect(updates).toBe(1);
    expect(sessions.listOpen()[0]!.last_used_at).toBe('2026-11-28T00:00:02.000Z');
    expect(history.list('s_1').map((r) => JSON.parse(r.outputs))).toEqual([{ stdout: 'x' }]);
    expect(audit.list('o', 's_1', 10)).toHaveLength(1);
  });
});
