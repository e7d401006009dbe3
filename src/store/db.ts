// Opens the server's SQLite database (WAL, incremental vacuum) and applies migrations in order. The only place that
// creates tables.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export function openDb(file: string): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  incrementalVacuum(db);
  db.pragma('journal_mode = WAL');
  // After a checkpoint the WAL file is cut back to this size, so one large batch does not keep its space for good.
  db.pragma(`journal_size_limit = ${WAL_KEEP_BYTES}`);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

const WAL_KEEP_BYTES = 8 * 1024 * 1024;

/**
 * Pages freed by deleted rows go back to the disk when retention runs `PRAGMA incremental_vacuum`. A new database
 * gets the mode before its first table; one made before it gets it by a single VACUUM (skipped, and tried at the
 * next start, when the disk has no room for the copy).
 */
function incrementalVacuum(db: Db): void {
  if (db.pragma('auto_vacuum', { simple: true }) === 2) return;
  db.pragma('auto_vacuum = INCREMENTAL');
  if (db.pragma('auto_vacuum', { simple: true }) === 2) return;
  try {
    db.exec('VACUUM');
  } catch {
    // no room for the copy: the database works as before, only without giving pages back
  }
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    const step = MIGRATIONS[v];
    if (step === undefined) continue;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
