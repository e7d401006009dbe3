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
  // 2: versioned workspace backups. Manifests reference content-addressed blobs by sha256; a backup is
  // 'pending' until every blob it names is in place, so a crash mid-backup never leaves a listable backup
  // pointing at missing data. backup_rollbacks marks a rollback in flight so recovery can find its journal.
  `
  CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('manual', 'pre_rollback', 'pre_cleanup', 'auto')),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete')),
    pid INTEGER NOT NULL,
    file_count INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0,
    totals TEXT NOT NULL DEFAULT '{}',
    skipped TEXT NOT NULL DEFAULT '[]',
    UNIQUE (session_id, name)
  );
  CREATE INDEX backups_session ON backups(session_id, status, created_at);
  CREATE TABLE backup_files (
    backup_id INTEGER NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    sha256 TEXT,
    target TEXT,
    category TEXT,
    mtime_ms REAL NOT NULL,
    stat_key TEXT,
    PRIMARY KEY (backup_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX backup_files_sha ON backup_files(sha256) WHERE sha256 IS NOT NULL;
  CREATE TABLE backup_rollbacks (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    backup_name TEXT NOT NULL,
    workspace TEXT NOT NULL UNIQUE,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL
  );
  `,
  // 3: the audit log: one row per execute, shell command, install and policy denial. Commands are kept as a sha256,
  // not as text; rows outlive their session (no foreign key) so a closed session's history stays auditable.
  `
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL,
    detail TEXT
  );
  CREATE INDEX audit_log_owner ON audit_log(owner, id);
  CREATE INDEX audit_log_session ON audit_log(session_id, id);
  `,
  // 4: a session's network allowlist (the mode itself is sessions.network). Kept apart from the sessions row so the
  // rules survive a restart and the proxy can be rebuilt when the session's box starts again.
  `
  CREATE TABLE session_network (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    rules TEXT NOT NULL DEFAULT '[]'
  );
  `,
];
