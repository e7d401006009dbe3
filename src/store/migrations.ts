// Schema migrations, applied in order by db.ts; append new steps, never edit a released one.

export const MIGRATIONS: string[] = [
  `
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    closed_at TEXT,
    timeout_s REAL NOT NULL,
    memory_mb INTEGER NOT NULL,
    pids INTEGER NOT NULL,
    network TEXT NOT NULL DEFAULT 'none',
    execution_count INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX sessions_owner ON sessions(owner, closed_at);
  CREATE TABLE executions (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    execution_count INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'python',
    code TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    outputs TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (session_id, execution_count, kind)
  );
  `,
];
