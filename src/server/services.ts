// The set of services a tool handler may call; built once per server process and shared by all clients.
import type { ArtifactService } from '../artifacts/service.js';
import type { SessionScope } from '../artifacts/types.js';
import type { Config } from '../config.js';
import type { SessionService } from '../sessions/service.js';

export interface Services {
  config: Config;
  sessions: SessionService;
  artifacts: ArtifactService;
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
