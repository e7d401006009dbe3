// The audit log service: records every execute, shell command, install, policy and network denial, written behind the call
// (queued, then one transaction at most every 200 ms) so no call waits for SQLite. It must never store a command's text.
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { deferredWrites, type DeferredWrites } from '../store/write-behind.js';
import type { Db } from '../store/db.js';
import { AuditRepo, type AuditRow } from '../store/audit-repo.js';
import type { AuditEntrySchema } from './entry-schema.js';

export const AUDIT_KINDS = ['execute', 'shell', 'install', 'policy_denied', 'network_denied'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export interface AuditEvent {
  sessionId: string;
  owner: string;
  kind: AuditKind;
  /** The code, command or package spec; only its sha256 is kept. */
  subject: string;
  status: string;
  durationMs?: number | null;
  /** Small facts worth keeping (a rule id, an exit code); never the subject itself. */
  detail?: Record<string, string | number | boolean | null>;
  /** Defaults to now. */
  at?: Date;
}

export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export class AuditLog {
  private readonly repo: AuditRepo;

  constructor(
    db: Db,
    private readonly writes: DeferredWrites = deferredWrites(db),
  ) {
    this.repo = new AuditRepo(db);
  }

  /** Queues one entry; hashing and the write happen after the call has answered. */
  record(e: AuditEvent): void {
    const at = (e.at ?? new Date()).toISOString();
    this.writes.push(() =>
      this.repo.insert({
        session_id: e.sessionId,
        owner: e.owner,
        at,
        kind: e.kind,
        sha256: createHash('sha256').update(e.subject).digest('hex'),
        status: e.status,
        duration_ms: e.durationMs ?? null,
        detail: e.detail ? JSON.stringify(e.detail) : null,
      }),
    );
  }

  flush(): void {
    this.writes.flush();
  }

  /** The owner's entries, newest first. */
  list(owner: string, sessionId: string | undefined, limit: number): AuditEntry[] {
    this.flush();
    return this.repo.list(owner, sessionId, limit).map(toEntry);
  }
}

function toEntry(r: AuditRow): AuditEntry {
  let detail: Record<string, unknown> | null = null;
  if (r.detail) {
    try {
      detail = JSON.parse(r.detail) as Record<string, unknown>;
    } catch {
      detail = null;
    }
  }
  return {
    id: r.id,
    session_id: r.session_id,
    at: r.at,
    kind: r.kind,
    sha256: r.sha256,
    status: r.status,
    duration_ms: r.duration_ms,
    detail,
  };
}
