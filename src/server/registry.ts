// The tool registry: every tool the server offers, in one list, filtered by profile.
import type { Config } from '../config.js';
import type { ToolDef, ToolProfile } from './tool-def.js';
import { artifactTools } from './tools/artifacts.js';
import { backupTools } from './tools/backups.js';
import { auditTools } from './tools/audit.js';
import { cacheTools } from './tools/cache.js';
import { executeTools } from './tools/execute.js';
import { fileTools } from './tools/files.js';
import { infoTools } from './tools/info.js';
import { limitsTools } from './tools/limits.js';
import { packageTools } from './tools/packages.js';
import { sessionTools } from './tools/sessions.js';
import { shellTools } from './tools/shell.js';
import { webAppTools } from './tools/webapps.js';

export function allTools(config: Config): ToolDef[] {
  return [
    ...sessionTools(config.idleTtlS, config.networkDefault),
    ...executeTools(config.timeoutS, config.networkDefault),
    ...infoTools(),
    ...fileTools(),
    ...artifactTools(),
    ...backupTools(config.maxBackups),
    ...shellTools(),
    ...cacheTools(),
    ...limitsTools(),
    ...auditTools(),
    ...webAppTools(),
    ...packageTools(),
  ];
}

export function toolsForProfile(config: Config, profile: ToolProfile): ToolDef[] {
  const tools = allTools(config);
  return profile === 'full' ? tools : tools.filter((t) => t.profile === 'core');
}
