// The write-behind queue on a real SQLite database: batching, a refused batch kept and retried, a bad row dropped
// alone, the bound on what is kept, and the queue history and audit share (a refused use written on the next try).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDb, type Db } from '../../src/store/db.js';
import { FLUSH_MS, MAX_PENDING, WriteBehind, deferredWrites } from '../../src/store/write-behind.js';
import { SessionsRepo } from '../../src/store/sessions-repo.js';
import { HistoryWriter } from '../../src/sessions/history.js';
import { AuditLog } from '../../src/audit/log.js';

let dir: string;
let db: Db;
// The queue's timing is its logic: its timers run on a fake clock, moved on by exactly the time each step needs.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

function fresh(): Db {
  dir = mkdtempSync(join(tmpdir(), 'write-behind-'));
  db = openDb(join(dir, 'test.db'));
  db.exec('CREATE TABLE t (v INTEGER)');
  return db;
}

const wait = (ms: number) => vi.advanceTimersByTimeAsync(ms);

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
    await wait(FLUSH_MS - 1);
    expect(batches).toEqual([]);
    await wait(1);
    expect(batches).toEqual([[1, 2]]);
    q.push(3);
    q.flush();
    expect(d.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });

  it('keeps a batch the database refused, reports it once, and writes it when the database takes writes again', async () => {
    const d = fresh();
    const errors: string[] = [];
    let full = true;
    const q = new WriteBehind<number>(
      d,
      (items) => {
        for (const v of items) d.prepare('INSERT INTO t (v) VALUES (?)').run(v);
        if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      },
      (err, outcome) => errors.push(`${outcome}: ${String(err)}`),
    );
    q.push(1);
    await wait(FLUSH_MS);
    expect(errors).toEqual(['retrying: Error: database or disk is full']);
    expect(d.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 }); // rolled back as a whole
    q.push(2);
    expect(q.flush()).toBe(false); // a direct flush never throws
    expect(q.pending).toBe(2);
    expect(errors).toHaveLength(1); // one report per streak of failures
    full = false;
    // two failures so far: the next try comes two seconds after the last
    await wait(2000 - 1);
    expect(q.pending).toBe(2);
    await wait(1);
    expect(q.pending).toBe(0);
    expect(d.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 1 }, { v: 2 }]);
  });

  it('drops only a row that fails by itself, and writes the rest of its batch', () => {
    const d = fresh();
    const errors: string[] = [];
    const q = new WriteBehind<number>(
      d,
      (items) => {
        for (const v of items) {
          if (v === 2) throw new Error('bad row');
          d.prepare('INSERT INTO t (v) VALUES (?)').run(v);
        }
      },
      (err, outcome) => errors.push(`${outcome}: ${String(err)}`),
    );
    for (const v of [1, 2, 3]) q.push(v);
    expect(q.flush()).toBe(true);
    expect(d.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 1 }, { v: 3 }]);
    expect(errors).toEqual(['dropped: Error: bad row']);
  });

  it('keeps at most MAX_PENDING rows while the database refuses them, dropping the oldest and saying how many', () => {
    const d = fresh();
    const errors: string[] = [];
    let full = true;
    const written: number[] = [];
    const q = new WriteBehind<number>(
      d,
      (items) => {
        if (full) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
        written.push(...items);
      },
      (err, outcome) => errors.push(`${outcome}: ${String(err)}`),
    );
    q.push(0);
    expect(q.flush()).toBe(false);
    for (let v = 1; v <= MAX_PENDING + 9; v++) q.push(v);
    expect(q.pending).toBe(MAX_PENDING);
    full = false;
    expect(q.flush()).toBe(true);
    expect(written[0]).toBe(10);
    expect(written).toHaveLength(MAX_PENDING);
    expect(errors).toEqual([
      'retrying: Error: disk I/O error',
      `dropped: Error: 10 queued rows were dropped while the database could not be written`,
    ]);
  });
});

describe('deferredWrites shared by history and audit', () => {
  it('writes both kinds in one batch, and only the newest use of a session', async () => {
    dir = mkdtempSync(join(tmpdir(), 'write-behind-'));
    db = openDb(join(dir, 'sandbox.db'));
    const writes = deferredWrites(db, () => undefined);
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
    await wait(FLUSH_MS);
    expect(updates).toBe(1);
    expect(sessions.listOpen()[0]!.last_used_at).toBe('2026-11-28T00:00:02.000Z');
    expect(history.list('s_1').map((r) => JSON.parse(r.outputs))).toEqual([{ stdout: 'x' }]);
    expect(audit.list('o', 's_1', 10)).toHaveLength(1);

    // A use the database refused is written on the next try, not forgotten.
    let full = true;
    sessions.used = (...args) => {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      used(...args);
    };
    history.used('s_1', '2026-11-28T00:00:03.000Z', 2);
    expect(history.flush()).toBe(false);
    full = false;
    expect(history.flush()).toBe(true);
    expect(sessions.listOpen()[0]!.last_used_at).toBe('2026-11-28T00:00:03.000Z');
  });
});
