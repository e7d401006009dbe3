// The set of services a tool handler may call; built once per server process and shared by all clients.
import type { ArtifactService } from '../artifacts/service.js';
import type { SessionScope } from '../artifacts/types.js';
import type { AuditLog } from '../audit/log.js';
import type { BackupService } from '../backups/service.js';
import type { CacheService } from '../caches/service.js';
import type { Config } from '../config.js';
import type { NetworkService } from '../network/service.js';
import type { PackageService } from '../packages/service.js';
import type { SessionService } from '../sessions/service.js';
import type { ShellService } from '../shell/service.js';
import type { WebAppExportService } from '../webapps/exports.js';
import type { WebAppService } from '../webapps/service.js';

export interface Services {
  config: Config;
  sessions: SessionService;
  artifacts: ArtifactService;
  shell: ShellService;
  caches: CacheService;
  audit: AuditLog;
  webapps: WebAppService;
  webappExports: WebAppExportService;
  network: NetworkService;
  packages: PackageService;
  backups: BackupService;
  /** Runs before a cleanup removes files (the backups service takes a pre_cleanup backup); returns its name. */
  beforeCleanup?: (owner: string, scope: SessionScope) => Promise<string | null>;
}

/** The caller's session (default when omitted) as the scope the file services work on. */
export async function sessionScope(
  services: Services,
  owner: string,
  sessionId?: string,
): Promise<SessionScope> {
  const w = await services.sessions.workspace(owner, sessionId);
  return { sessionId: w.sessionId, workspace: w.path };
}
