// Execution history rows on a real SQLite database: the notebook export gets the newest calls, oldest first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import { ExecutionsRepo } from '../../src/store/executions-repo.js';
import { SessionsRepo } from '../../src/store/sessions-repo.js';

describe('ExecutionsRepo.list', () => {
  it('keeps the newest calls when a session has more than the limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'executions-'));
    const db = openDb(join(dir, 'sandbox.db'));
    try {
      const at = new Date().toISOString();
      new SessionsRepo(db).insert({
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
      const repo = new ExecutionsRepo(db);
      for (let n = 1; n <= 5; n++) {
        repo.insert({
          session_id: 's_1',
          execution_count: n,
          kind: 'python',
          code: `x = ${n}`,
          status: 'ok',
          started_at: at,
          duration_ms: 1,
          outputs: '{}',
        });
      }
      expect(repo.list('s_1', 3).map((r) => r.execution_count)).toEqual([3, 4, 5]);
      expect(repo.list('s_1').map((r) => r.execution_count)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
