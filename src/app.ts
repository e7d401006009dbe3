// Wires one server process: data dir, database, services and the MCP server factory; closes them in order.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { createLogger } from './log.js';
import { createServerFactory } from './server/server.js';
import type { ServerFactory } from './server/client-context.js';
import type { Services } from './server/services.js';
import type { ToolProfile } from './server/tool-def.js';
import { ArtifactService } from './artifacts/service.js';
import { SessionService } from './sessions/service.js';
import { seedMatplotlibCache } from './sessions/mpl-seed.js';
import { openDb } from './store/db.js';

export interface App {
  services: Services;
  factory: ServerFactory;
  close(): Promise<void>;
}

export function createApp(config: Config, profile: ToolProfile = 'full'): App {
  const log = createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDb(join(config.dataDir, 'sandbox.db'));
  const sessions = new SessionService(config, db, (msg, extra) => log.info(extra ?? {}, msg));
  if (config.isolation === 'none') {
    log.warn("isolation is OFF (--isolation none): code runs unsandboxed with this user's rights");
  }
  void seedMatplotlibCache(config).catch((err: unknown) =>
    log.debug({ err: String(err) }, 'matplotlib cache seed skipped'),
  );
  const artifacts = new ArtifactService();
  sessions.setCallTracker({
    begin: (s) => artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).begin(),
    end: (s) => artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).end(),
    forget: (id) => artifacts.forget(id),
  });
  sessions.start();
  const services: Services = { config, sessions, artifacts };
  return {
    services,
    factory: createServerFactory(services, profile),
    close: async () => {
      await sessions.shutdown();
      db.close();
    },
  };
}
