// Wires one server process: data dir, database, services and the MCP server factory; closes them in order.
import { startDockerBackend, usesDocker } from './sandbox/docker/backend.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { createLogger } from './log.js';
import { createServerFactory } from './server/server.js';
import type { ServerFactory } from './server/client-context.js';
import type { Services } from './server/services.js';
import type { ToolProfile } from './server/tool-def.js';
import { ArtifactService } from './artifacts/service.js';
import { BackupService } from './backups/service.js';
import { AuditLog } from './audit/log.js';
import { CacheService } from './caches/service.js';
import { loadPolicyFile } from './policy/shell-policy-file.js';
import { ShellPolicy } from './policy/shell-policy.js';
import { ShellService } from './shell/service.js';
import { SessionService } from './sessions/service.js';
import { cpuSupport } from './sandbox/cgroups.js';
import { hostLimitMechanisms, limitNotices } from './sandbox/limit-stand-ins.js';
import { seedMatplotlibCache } from './sessions/mpl-seed.js';
import { openDb } from './store/db.js';
import { Retention } from './store/retention.js';
import { deferredWrites } from './store/write-behind.js';
import type { StatusExtras } from './server/status-page.js';
import { statusStore } from './server/status-store.js';
import { NetworkService } from './network/service.js';
import { PackageService } from './packages/service.js';
import { WebAppExportService } from './webapps/exports.js';
import { WebAppService } from './webapps/service.js';
import { boxOwner, configureBoxUid, serverIsRoot } from './box-user.js';

export interface App {
  /** Settles once start-up recovery (interrupted rollbacks, half-made backups) is done; serve only after it. */
  ready: Promise<void>;
  services: Services;
  /** What the status page shows per session beyond sessions and artifacts. */
  statusExtras: StatusExtras;
  factory: ServerFactory;
  close(): Promise<void>;
}

/** How often retention runs (and once START_QUIET_MS after start). */
const RETENTION_EVERY_MS = 10 * 60_000;
/** Work the first answers do not need (the CPU probe, the first full retention sweep) waits this long after start. */
const START_QUIET_MS = 1000;

export function createApp(config: Config, profile: ToolProfile = 'full'): App {
  const log = createLogger(config.logLevel);
  const policyRules = loadPolicyFile(config.policyFile); // a bad policy file stops the start, before anything runs
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDb(join(config.dataDir, 'sandbox.db'));
  // History, usage and audit rows share one write-behind queue: one timer and one commit per 200 ms window.
  const writes = deferredWrites(db, (err, outcome) =>
    log.error({ err: String(err), rows: outcome }, 'a background database write failed'),
  );
  const sessions = new SessionService(config, db, (msg, extra) => log.info(extra ?? {}, msg), writes);
  if (usesDocker(config)) startDockerBackend(config, (msg, extra) => log.info(extra ?? {}, msg));
  if (config.isolation === 'none') {
    log.warn("isolation is OFF (--isolation none): code runs unsandboxed with this user's rights");
  } else if (serverIsRoot()) {
    configureBoxUid(config.boxUid);
    const owner = boxOwner();
    log.info(
      { uid: owner.uid, gid: owner.gid, source: owner.source },
      'the server runs as root: boxes run as an unprivileged host uid, never as root',
    );
  }
  // The CPU probe makes and removes a cgroup (slow on some hosts) only to warn: it runs after start-up, off the path
  // to the first tools/list.
  const cpuProbe = setTimeout(() => {
    if (!usesDocker(config)) warnLimitStandIns(config, log);
    try {
      const cpu = cpuSupport();
      if (!cpu.enforced)
        log.warn({ reason: cpu.reason }, 'no CPU share per session: a busy session slows down the others');
    } catch (err) {
      log.warn(
        { err: String(err) },
        'the CPU share probe failed: whether sessions get a CPU share is unknown',
      );
    }
  }, START_QUIET_MS);
  cpuProbe.unref();
  // Built a moment after start so its Python import does not compete with the server's own start-up for CPU;
  // stopped by close(), so no process of the server outlives it.
  const seedStop = new AbortController();
  let seeding: Promise<void> = Promise.resolve();
  const seedTimer = setTimeout(() => {
    seeding = seedMatplotlibCache(config, seedStop.signal).catch((err: unknown) =>
      log.debug({ err: String(err) }, 'matplotlib cache seed skipped'),
    );
  }, 2000);
  seedTimer.unref();
  const artifacts = new ArtifactService();
  sessions.setCallTracker({
    begin: (s) => artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).begin(),
    end: async (s) => {
      const t = artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace });
      try {
        return await t.end();
      } finally {
        // A walk cut at its cap, files not hashed: said in the call's result, which takes its notices after this.
        for (const n of t.takeNotices()) sessions.addNotice(s.sessionId, n);
      }
    },
    forget: (id) => artifacts.forget(id),
  });
  const audit = new AuditLog(db, writes);
  sessions.events.on('executed', (c) =>
    audit.record({
      sessionId: c.sessionId,
      owner: c.owner,
      kind: 'execute',
      subject: c.code,
      status: c.status,
      durationMs: c.durationMs,
      at: c.startedAt,
    }),
  );
  // The shell parser (a wasm grammar) loads on the first shell call or shortly after start, whichever comes first,
  // so compiling it does not compete with the server's own start-up.
  let policy: Promise<ShellPolicy> | undefined;
  const loadPolicy = (): Promise<ShellPolicy> => {
    if (!policy) {
      policy = ShellPolicy.fromSource(policyRules);
      policy.catch((err: unknown) =>
        log.error({ err: String(err) }, 'the shell parser did not load; shell_execute will fail'),
      );
    }
    return policy;
  };
  setTimeout(() => void loadPolicy().catch(() => undefined), 1500).unref();
  const shell = new ShellService(sessions, policyRules, loadPolicy, audit, config);
  // Before sessions.start(): its box customizer must shape the warm pool's boxes too.
  const webapps = new WebAppService(config, sessions, (msg, extra) => log.info(extra ?? {}, msg));
  const network = new NetworkService(config, db, sessions, (level, msg, extra) =>
    log[level](extra ?? {}, msg),
  );
  network.onDenial((sessionId, d) => {
    const owner = sessions.ownerOf(sessionId);
    if (owner === null) return;
    audit.record({
      sessionId,
      owner,
      kind: 'network_denied',
      subject: `${d.method} ${d.host}:${d.port}`,
      status: 'denied',
      detail: { host: d.host, port: d.port, reason: d.reason, rule: d.rule },
    });
  });
  const packages = new PackageService(config, sessions, network);
  packages.events.on('install', (e) =>
    audit.record({
      sessionId: e.sessionId,
      owner: e.owner,
      kind: 'install',
      subject: e.requirement,
      status: e.status,
      durationMs: e.durationMs,
    }),
  );
  const backups = new BackupService({
    db,
    dataDir: config.dataDir,
    maxBackups: config.maxBackups,
    maxBackupBytes: config.backupMaxMb * 1024 * 1024,
  });
  // A closed session's workspace is gone, so its backups can never be restored: free their content.
  sessions.events.on('closed', (id) => {
    backups
      .cleanupOld(id, 0)
      .catch((err: unknown) => log.warn({ err: String(err), session: id }, 'backup cleanup failed'));
  });
  const ready = backups.recover().then((r) => {
    if (r.rollbacks_completed.length || r.rollbacks_abandoned.length || r.failed.length) {
      log.warn({ recovery: r }, 'recovered interrupted rollbacks');
    }
  });
  // Retention: history, audit and closed sessions' rows past their time, and saved long outputs (docs/ARCHITECTURE.md).
  const retention = new Retention(db, config);
  let swept = false; // whether a full sweep (with pages given back and outputs rotated) has run
  let deletedAtStart = false; // the first full sweep then only gives the pages back: the deletions ran just before
  const retain = () => {
    try {
      writes.flush();
      const result =
        deletedAtStart && !swept
          ? { executions: 0, audit: 0, sessions: 0, reclaimed_bytes: retention.reclaim() }
          : retention.sweep();
      swept = true;
      const outputs = sessions.rotateOutputs();
      if (result.executions || result.audit || result.sessions || outputs)
        log.info(
          { ...result, outputs },
          'removed history, audit rows and saved outputs past their retention',
        );
    } catch (err) {
      log.warn({ err: String(err) }, 'retention sweep failed; it runs again later');
    }
  };
  // At start only the deletions run before serving (no row past its time is ever served); giving the pages back
  // (a checkpoint that flushes the disk) and rotating saved outputs wait until the first answers are out. All of it
  // waits for the recovery of interrupted rollbacks, whose workspaces and rows it would otherwise touch meanwhile.
  let firstSweep: NodeJS.Timeout | undefined;
  let closing = false;
  void ready.then(() => {
    if (closing) return;
    try {
      const removed = retention.deleteExpired();
      deletedAtStart = true;
      if (removed.executions || removed.audit || removed.sessions)
        log.info(removed, 'removed history and audit rows past their retention');
    } catch (err) {
      log.warn({ err: String(err) }, 'retention sweep failed; it runs again later');
    }
    firstSweep = setTimeout(retain, START_QUIET_MS);
    firstSweep.unref();
  });
  const retainTimer = setInterval(retain, RETENTION_EVERY_MS);
  retainTimer.unref();
  sessions.start();
  const services: Services = {
    config,
    sessions,
    artifacts,
    shell,
    caches: new CacheService(sessions),
    audit,
    webapps,
    webappExports: new WebAppExportService(config, sessions, webapps),
    network,
    packages,
    backups,
    beforeCleanup: async (_owner, scope) =>
      (await backups.backup(scope.sessionId, scope.workspace, { reason: 'pre_cleanup' })).name,
  };
  const statusExtras: StatusExtras = {
    store: statusStore(db, () => writes.flush()),
    sections: [
      {
        name: 'backups',
        rows: async (_owner, sessionId) =>
          (await backups.list(sessionId)).slice(0, 10).map((b) => ({
            name: b.name,
            reason: b.reason,
            created: b.created_at,
            files: b.file_count,
            bytes: b.total_size,
          })),
      },
      {
        name: 'web_apps',
        rows: async (owner, sessionId) =>
          webapps
            .list(owner, sessionId)
            .filter((a) => a.status === 'running')
            // The address without the key: a status sign-in must not open the apps it lists.
            .map((a) => ({
              app_id: a.app_id,
              type: a.app_type,
              url: a.url === null ? null : `${new URL(a.url).origin}/`,
              started: a.started_at,
            })),
      },
    ],
  };
  return {
    ready,
    services,
    statusExtras,
    factory: createServerFactory(services, profile),
    close: async () => {
      clearTimeout(seedTimer);
      clearTimeout(cpuProbe);
      closing = true;
      clearTimeout(firstSweep);
      clearInterval(retainTimer);
      seedStop.abort();
      await webapps.shutdown();
      await sessions.shutdown();
      await backups.idle();
      await network.shutdown();
      await seeding;
      if (!swept) retain(); // a server stopped before its first full sweep still gives the pages back
      if (!writes.flush()) {
        log.error(
          { rows: writes.pending },
          'history and audit rows could not be written before exit (the database refused them); they are lost',
        );
      }
      db.close();
    },
  };
}

/** Names, at start, each box limit no cgroup enforces on this host and what stands in for it. */
function warnLimitStandIns(config: Config, log: ReturnType<typeof createLogger>): void {
  try {
    const m = hostLimitMechanisms(config.isolation === 'none' ? 'none' : config.boxBackend);
    const notices = limitNotices(m, config.memoryMb, config.pids);
    if (notices.length > 0)
      log.warn({ memory: m.memory, pids: m.pids, reason: m.reason }, notices.join('; '));
  } catch (err) {
    log.warn(
      { err: String(err) },
      'the cgroup probe failed: whether the memory and process limits hold is unknown',
    );
  }
}
