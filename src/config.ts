// Server configuration: one zod schema for command-line flags and SANDBOX_MCP_* environment variables, with defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const num = (def: number) => z.coerce.number().positive().default(def);
// Booleans from flags (true) or the environment ("1", "true", "yes"); z.coerce.boolean would read "false" as true.
const flag = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes')
  .default(false);

export const ConfigSchema = z.object({
  dataDir: z.string().min(1),
  isolation: z.enum(['bwrap', 'none']).default('bwrap'),
  bwrapPath: z.string().default('/usr/bin/bwrap'),
  python: z.string().default('/usr/bin/python3'),
  /** Per-call wall-clock limit, seconds. */
  timeoutS: num(60),
  /** Grace after the interrupt before the kernel is killed, milliseconds. */
  graceMs: num(2000),
  memoryMb: num(1024),
  pids: num(256),
  fileSizeMb: num(1024),
  openFiles: num(1024),
  /** Idle sessions older than this are closed, seconds. */
  idleTtlS: num(3600),
  /** Ready boxes kept started for create_session. 0 disables the pool. */
  poolSize: z.coerce.number().int().min(0).default(2),
  /** Bytes of each output stream kept in a result (head and tail). */
  outputCap: num(32_768),
  /** Images up to this size are returned inline as image content. */
  imageInlineCap: num(256 * 1024),
  maxBackups: num(10),
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

export type Config = z.infer<typeof ConfigSchema>;

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOX_MCP_HOME) return env.SANDBOX_MCP_HOME;
  const xdg = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(xdg, 'sandbox-mcp');
}

const ENV_KEYS: Record<string, keyof Config> = {
  SANDBOX_MCP_ISOLATION: 'isolation',
  SANDBOX_MCP_PYTHON: 'python',
  SANDBOX_MCP_BWRAP: 'bwrapPath',
  SANDBOX_MCP_TIMEOUT: 'timeoutS',
  SANDBOX_MCP_MEMORY_MB: 'memoryMb',
  SANDBOX_MCP_PIDS: 'pids',
  SANDBOX_MCP_IDLE_TTL: 'idleTtlS',
  SANDBOX_MCP_POOL_SIZE: 'poolSize',
  SANDBOX_MCP_OUTPUT_CAP: 'outputCap',
  SANDBOX_MCP_IMAGE_INLINE_CAP: 'imageInlineCap',
  SANDBOX_MCP_MAX_BACKUPS: 'maxBackups',
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
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  return parsed.data;
}
