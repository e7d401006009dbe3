// Server configuration: one zod schema for command-line flags and SANDBOX_MCP_* environment variables, with defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defaultTotalMemoryMb, defaultTotalPids } from './sandbox/host-capacity.js';
import { resolveBackend } from './sandbox/docker/endpoint.js';
import { DEFAULT_DOCKER_BASE_IMAGE } from './sandbox/docker/image.js';

const num = (def: number) => z.coerce.number().positive().default(def);
// Booleans from flags (true) or the environment ("1", "true", "yes"); z.coerce.boolean would read "false" as true.
const flag = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes')
  .default(false);

const ConfigInput = z.object({
  dataDir: z.string().min(1),
  /** auto: bubblewrap where it is, else a Docker engine (src/sandbox/docker/endpoint.ts); none: no sandbox. */
  isolation: z.enum(['auto', 'bwrap', 'docker', 'none']).default('auto'),
  /** `--docker-image`: an image with python3 that Docker boxes use instead of the shipped Dockerfile's. */
  dockerImage: z.string().min(1).optional(),
  /** The shipped Dockerfile's base image (a build argument). */
  dockerBaseImage: z.string().min(1).default(DEFAULT_DOCKER_BASE_IMAGE),
  bwrapPath: z.string().default('/usr/bin/bwrap'),
  python: z.string().default('/usr/bin/python3'),
  /** Per-call wall-clock limit, seconds: the default and the ceiling (a tool argument may lower it, never raise it). */
  // 50, not 60: the TS SDK and most clients give up on a request after 60 s; a cell that hits the limit must
  // end, with the grace and the result, before that, so the agent gets the structured timeout and its hint.
  timeoutS: num(50),
  /** Grace after the interrupt before the kernel is killed, milliseconds. */
  graceMs: num(2000),
  /** Memory limit per session, MiB: the default and the ceiling of create_session's memory_mb. */
  memoryMb: num(1024),
  /** Process limit per session (threads count). */
  pids: num(256),
  /** Open sessions one client may hold (its default session included). */
  maxSessions: z.coerce.number().int().min(1).default(10),
  /** Web apps one client may have starting or running at once. */
  maxWebApps: z.coerce.number().int().min(0).default(10),
  /** Memory limits of one client's open sessions added up, MiB; absent: the total shared evenly between clients. */
  clientMemoryMb: z.coerce.number().positive().optional(),
  /** Memory limits of all open sessions added up, MiB; absent: three quarters of the host's memory. */
  totalMemoryMb: z.coerce.number().positive().optional(),
  /** Process limits of all open sessions added up; absent: half of the host's pid limit. */
  totalPids: z.coerce.number().int().positive().optional(),
  /** CPUs' worth of time each box may use (cgroup cpu quota); 0: no quota, each box only has an equal CPU share. */
  cpuQuota: z.coerce
    .number()
    .min(0)
    .max(1024)
    .refine((v) => v === 0 || v >= 0.01, 'must be 0 (no quota) or at least 0.01 CPU')
    .default(0),
  /** The host uid[:gid] a root server runs its boxes as (never root); absent: user sandbox-mcp, else 64100. */
  boxUid: z
    .string()
    .regex(/^\d{1,10}(:\d{1,10})?$/, 'must be UID or UID:GID')
    .optional(),
  fileSizeMb: num(1024),
  openFiles: num(1024),
  /** A session unused this long has its processes stopped (box, kernel, web apps); its files stay, seconds. */
  idleTtlS: num(3600),
  /** A session unused this long is closed and its workspace, backups and history deleted, seconds; 0: never. */
  sessionRetentionS: z.coerce.number().min(0).default(2_592_000), // 30 days
  /** Ready boxes kept started for create_session. 0 disables the pool. */
  poolSize: z.coerce.number().int().min(0).default(2),
  /** What pooled boxes import before they are handed out (src/agent/preload.py); none: bare interpreters. */
  preload: z.enum(['none', 'scientific']).default('scientific'),
  /** Bytes of each output stream kept in a result (head and tail). */
  outputCap: num(32_768),
  /** Images up to this size are returned inline as image content. */
  imageInlineCap: num(256 * 1024),
  maxBackups: num(10),
  /** Execution history rows kept per session (the newest); older rows are deleted. */
  historyKeep: z.coerce.number().int().min(1).default(1000),
  /** Execution history rows older than this are deleted, days. */
  historyDays: num(30),
  /** Saved outputs of long streams (`.sandbox/outputs`) kept per session, the newest. */
  outputsKeep: z.coerce.number().int().min(1).default(20),
  /** Saved outputs older than this are deleted, days. */
  outputsDays: num(7),
  /** Audit rows older than this are deleted, days. */
  auditDays: num(90),
  host: z.string().default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8765),
  token: z.string().optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** JSON file of shell deny rules (see src/policy/shell-policy-file.ts); absent: the built-in rules. */
  policyFile: z.string().min(1).optional(),
  /** Network policy of sessions that do not name one: none, allowlist or full (full needs allowFullNetwork). */
  networkDefault: z.enum(['none', 'allowlist', 'full']).default('none'),
  /** Default allowlist rules (comma- or space-separated hosts and *.domains) for allowlist sessions. */
  networkAllowlist: z.string().default(''),
  /** Lets create_session ask for network 'full' (the box shares the host's network). */
  allowFullNetwork: flag,
  /** Lets install_package take URLs and workspace paths, not only names and version specifiers. */
  allowPackageUrls: flag,
  /**
   * Validates every tool result against its declared output schema before sending it. Off by default: the
   * results are typed at compile time and clients validate what they receive; the test suite turns it on.
   */
  checkOutput: flag,
});

/** The global caps default to what this host holds, never below one session's limits. */
export const ConfigSchema = ConfigInput.transform((c) => ({
  ...c,
  // Code elsewhere reads `isolation` as boxed ('bwrap') or not; which box backend runs the boxes is `boxBackend`.
  isolation: c.isolation === 'none' ? ('none' as const) : ('bwrap' as const),
  boxBackend: resolveBackend(c.isolation === 'none' ? 'bwrap' : c.isolation, c.bwrapPath),
  totalMemoryMb: c.totalMemoryMb ?? Math.max(c.memoryMb, defaultTotalMemoryMb()),
  totalPids: c.totalPids ?? Math.max(c.pids, defaultTotalPids()),
}));

export type Config = z.infer<typeof ConfigSchema>;

/** Settings that cannot hold together: a per-session limit above a cap that must hold at least one session. */
function conflicts(c: Config): string[] {
  const out: string[] = [];
  if (c.memoryMb > c.totalMemoryMb)
    out.push(`memoryMb: ${c.memoryMb} MiB per session is above totalMemoryMb (${c.totalMemoryMb} MiB)`);
  if (c.clientMemoryMb !== undefined && c.memoryMb > c.clientMemoryMb)
    out.push(`memoryMb: ${c.memoryMb} MiB per session is above clientMemoryMb (${c.clientMemoryMb} MiB)`);
  if (c.pids > c.totalPids) out.push(`pids: ${c.pids} per session is above totalPids (${c.totalPids})`);
  return out;
}

/**
 * The config with the per-client memory cap settled for this many clients (HTTP tokens; 1 over stdio): when not
 * set, each client may hold an even share of the total, and at least one session at the per-session limit.
 */
export function withClientShare(config: Config, clients: number): Config {
  if (config.clientMemoryMb !== undefined) return config;
  const share = Math.floor(config.totalMemoryMb / Math.max(1, clients));
  return { ...config, clientMemoryMb: Math.max(config.memoryMb, share) };
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOX_MCP_HOME) return env.SANDBOX_MCP_HOME;
  const xdg = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(xdg, 'sandbox-mcp');
}

const ENV_KEYS: Record<string, keyof Config> = {
  SANDBOX_MCP_ISOLATION: 'isolation',
  SANDBOX_MCP_PYTHON: 'python',
  SANDBOX_MCP_BWRAP: 'bwrapPath',
  SANDBOX_MCP_DOCKER_IMAGE: 'dockerImage',
  SANDBOX_MCP_DOCKER_BASE_IMAGE: 'dockerBaseImage',
  SANDBOX_MCP_TIMEOUT: 'timeoutS',
  SANDBOX_MCP_MEMORY_MB: 'memoryMb',
  SANDBOX_MCP_PIDS: 'pids',
  SANDBOX_MCP_MAX_SESSIONS: 'maxSessions',
  SANDBOX_MCP_MAX_WEB_APPS: 'maxWebApps',
  SANDBOX_MCP_CLIENT_MEMORY_MB: 'clientMemoryMb',
  SANDBOX_MCP_TOTAL_MEMORY_MB: 'totalMemoryMb',
  SANDBOX_MCP_TOTAL_PIDS: 'totalPids',
  SANDBOX_MCP_CPU_QUOTA: 'cpuQuota',
  SANDBOX_MCP_BOX_UID: 'boxUid',
  SANDBOX_MCP_IDLE_TTL: 'idleTtlS',
  SANDBOX_MCP_SESSION_RETENTION: 'sessionRetentionS',
  SANDBOX_MCP_POOL_SIZE: 'poolSize',
  SANDBOX_MCP_PRELOAD: 'preload',
  SANDBOX_MCP_OUTPUT_CAP: 'outputCap',
  SANDBOX_MCP_IMAGE_INLINE_CAP: 'imageInlineCap',
  SANDBOX_MCP_MAX_BACKUPS: 'maxBackups',
  SANDBOX_MCP_HISTORY_KEEP: 'historyKeep',
  SANDBOX_MCP_HISTORY_DAYS: 'historyDays',
  SANDBOX_MCP_OUTPUTS_KEEP: 'outputsKeep',
  SANDBOX_MCP_OUTPUTS_DAYS: 'outputsDays',
  SANDBOX_MCP_AUDIT_DAYS: 'auditDays',
  SANDBOX_MCP_HOST: 'host',
  SANDBOX_MCP_PORT: 'port',
  SANDBOX_MCP_TOKEN: 'token',
  SANDBOX_MCP_LOG_LEVEL: 'logLevel',
  SANDBOX_MCP_POLICY: 'policyFile',
  SANDBOX_MCP_NETWORK_DEFAULT: 'networkDefault',
  SANDBOX_MCP_NETWORK_ALLOWLIST: 'networkAllowlist',
  SANDBOX_MCP_ALLOW_FULL_NETWORK: 'allowFullNetwork',
  SANDBOX_MCP_ALLOW_PACKAGE_URLS: 'allowPackageUrls',
  SANDBOX_MCP_CHECK_OUTPUT: 'checkOutput',
};

/** Flags win over environment, environment over defaults. Throws a readable error on bad values. */
export function loadConfig(
  flags: Partial<Record<keyof Config, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const merged: Record<string, unknown> = { dataDir: defaultDataDir(env) };
  for (const [envKey, key] of Object.entries(ENV_KEYS)) {
    if (env[envKey] !== undefined && env[envKey] !== '') merged[key] = env[envKey];
  }
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  const parsed = ConfigSchema.safeParse(merged);
  const issues = parsed.success
    ? conflicts(parsed.data)
    : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if (issues.length > 0 || !parsed.success) throw new Error(`invalid configuration: ${issues.join('; ')}`);
  return parsed.data;
}
