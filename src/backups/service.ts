// The backups service: versioned, deduplicated workspace backups and rollback; never runs sandboxed code, builds MCP content, or deletes a blob a manifest references.
// This file holds the public surface: one promise chain per session, the box frozen while its workspace is read or
// changed, and background work. The operations live in create.ts, inspect.ts, rollback.ts (with its crash-safety
// design), restore-file.ts, retention.ts and recovery.ts, over the shared state in context.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { categorize as categorizeArtifact } from '../workspace/categorize.js';
import type { Db } from '../store/db.js';
import { BackupsRepo } from '../store/backups-repo.js';
import { withFrozenBox } from '../sandbox/freezer.js';
import { KeyedSerial } from '../keyed-serial.js';
import { BlobStore } from './blob-store.js';
import type { BackupContext } from './context.js';
import { takeBackup } from './create.js';
import { backupDetails, diffBackups, listBackups, verifyBackup } from './inspect.js';
import { SCRATCH_BYTES } from './read-file.js';
import { recover } from './recovery.js';
import { restoreFile } from './restore-file.js';
import { keepNewest } from './retention.js';
import { rollbackWorkspace } from './rollback.js';
import { ScratchPool } from './scratch.js';
import type {
  BackupDetails,
  BackupOptions,
  BackupResult,
  BackupSummary,
  CategorizeFn,
  CleanupOptions,
  CleanupResult,
  DiffResult,
  RecoverReport,
  RestoreFileResult,
  RollbackOptions,
  RollbackResult,
  VerifyResult,
} from './types.js';

export interface BackupServiceOptions {
  db: Db;
  /** The server's data dir; blobs live in <dataDir>/blobs. */
  dataDir: string;
  /** Defaults to the artifacts service's categorize, so backups and artifacts agree on categories. */
  categorize?: CategorizeFn | undefined;
  /** Retention run after every backup: newest N kept per session. null or undefined keeps everything. */
  maxBackups?: number | null | undefined;
  /** Bytes (apparent size) of files one backup holds at most, the largest left out first; null or undefined: no limit. */
  maxBackupBytes?: number | null | undefined;
  /** Files read, hashed or written at once. */
  concurrency?: number | undefined;
  now?: (() => Date) | undefined;
}

export class BackupService {
  private readonly ctx: BackupContext;
  /** One promise chain per session: backups, rollbacks, restores and cleanups of a session never interleave. */
  private readonly chains = new KeyedSerial<string>();
  /** Work that runs after the caller has its answer: deleting old trees, and recover()'s sweep. */
  private readonly pending = new Set<Promise<void>>();

  constructor(opts: BackupServiceOptions) {
    const trashDir = join(opts.dataDir, 'trash');
    mkdirSync(trashDir, { recursive: true, mode: 0o700 });
    const maxBackups = opts.maxBackups ?? null;
    if (maxBackups !== null && (!Number.isInteger(maxBackups) || maxBackups < 1)) {
      throw new Error(`maxBackups must be a whole number of at least 1, not ${maxBackups}`);
    }
    const maxBackupBytes = opts.maxBackupBytes ?? null;
    if (maxBackupBytes !== null && !(maxBackupBytes > 0)) {
      throw new Error(`maxBackupBytes must be above 0, not ${maxBackupBytes}`);
    }
    const concurrency = opts.concurrency ?? 4;
    this.ctx = {
      repo: new BackupsRepo(opts.db),
      blobs: new BlobStore(opts.dataDir),
      categorize: opts.categorize ?? categorizeArtifact,
      maxBackups,
      maxBackupBytes,
      concurrency,
      now: opts.now ?? (() => new Date()),
      scratch: new ScratchPool(SCRATCH_BYTES, concurrency),
      trashDir,
      liveBackups: new Set<number>(),
      liveRollbacks: new Set<number>(),
      trashing: new Set<string>(),
      background: (work) => this.background(work),
    };
  }

  private serial<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    return this.chains.run(sessionId, fn);
  }

  private background(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves when background work (old trees, the start-up sweep) has finished (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  backup(sessionId: string, workspace: string, opts: BackupOptions): Promise<BackupResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(
        sessionId,
        async () => (await takeBackup(this.ctx, sessionId, workspace, opts, [])).result,
      ),
    );
  }

  list(sessionId: string): Promise<BackupSummary[]> {
    return listBackups(this.ctx, sessionId);
  }

  details(sessionId: string, name: string, workspace: string): Promise<BackupDetails> {
    return backupDetails(this.ctx, sessionId, name, workspace);
  }

  diffBackups(sessionId: string, from: string, to: string): Promise<DiffResult> {
    return diffBackups(this.ctx, sessionId, from, to);
  }

  verify(sessionId: string, name: string): Promise<VerifyResult> {
    return verifyBackup(this.ctx, sessionId, name);
  }

  rollback(
    sessionId: string,
    name: string,
    workspace: string,
    opts: RollbackOptions = {},
  ): Promise<RollbackResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(sessionId, () => rollbackWorkspace(this.ctx, sessionId, name, workspace, opts)),
    );
  }

  restoreFile(sessionId: string, name: string, path: string, workspace: string): Promise<RestoreFileResult> {
    return this.serial(sessionId, () =>
      withFrozenBox(sessionId, () => restoreFile(this.ctx, sessionId, name, path, workspace)),
    );
  }

  /** Keeps the newest maxBackups backups of the session; 0 deletes them all (a closed session's, say). */
  cleanupOld(sessionId: string, maxBackups = 10, opts: CleanupOptions = {}): Promise<CleanupResult> {
    return this.serial(sessionId, async () => keepNewest(this.ctx, sessionId, maxBackups, opts));
  }

  /**
   * Call once at start-up, before serving: finishes or abandons rollbacks a dead process left (see rollback.ts)
   * and drops its half-made backups. Deleting its trash, temp files and unreferenced blobs starts in the
   * background (idle() waits for it). Safe to run again at any time.
   */
  recover(): Promise<RecoverReport> {
    return recover(this.ctx);
  }
}
