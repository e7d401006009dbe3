// Server configuration: the settings (src/settings.ts) from flags, SANDBOX_MCP_* variables and defaults, with the caps
// derived from the host.
import { defaultTotalMemoryMb, defaultTotalPids } from './sandbox/host-capacity.js';
import { resolveBackend } from './sandbox/docker/endpoint.js';
import { defaultDataDir, SETTINGS, SETTING_KEYS, SettingsSchema, type Settings } from './settings.js';

export { defaultDataDir } from './settings.js';

/** The config checked settings make: the backend chosen, and global caps from the host, never below one session's. */
function configOf(c: Settings) {
  return {
    ...c,
    // Code elsewhere reads `isolation` as boxed ('bwrap') or not; which box backend runs the boxes is `boxBackend`.
    isolation: c.isolation === 'none' ? ('none' as const) : ('bwrap' as const),
    boxBackend: resolveBackend(c.isolation === 'none' ? 'bwrap' : c.isolation, c.bwrapPath),
    totalMemoryMb: c.totalMemoryMb ?? Math.max(c.memoryMb, defaultTotalMemoryMb()),
    totalPids: c.totalPids ?? Math.max(c.pids, defaultTotalPids()),
  };
}

export type Config = ReturnType<typeof configOf>;

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

/** Each SANDBOX_MCP_* variable with the setting it sets. */
export const ENV_KEYS: ReadonlyMap<string, keyof Settings> = new Map(
  SETTING_KEYS.map((k) => [SETTINGS[k].env, k]),
);

/** Flags win over environment, environment over defaults. Throws a readable error on bad values. */
export function loadConfig(
  flags: Partial<Record<keyof Config, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return resolve(flags, env).config;
}

/**
 * Each setting as flags, the environment and the defaults make it (`sandbox-mcp config`): `isolation` as asked (the
 * config holds the backend chosen), the global caps as derived from the host when not set.
 */
export function resolveSettings(
  flags: Partial<Record<keyof Config, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const { settings, config } = resolve(flags, env);
  return { ...settings, totalMemoryMb: config.totalMemoryMb, totalPids: config.totalPids };
}

function resolve(
  flags: Partial<Record<keyof Config, unknown>>,
  env: NodeJS.ProcessEnv,
): { settings: Settings; config: Config } {
  const merged: Record<string, unknown> = { dataDir: defaultDataDir(env) };
  for (const [envKey, key] of ENV_KEYS) {
    if (env[envKey] !== undefined && env[envKey] !== '') merged[key] = env[envKey];
  }
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  const parsed = SettingsSchema.safeParse(merged);
  if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const config = configOf(parsed.data);
  const issues = conflicts(config);
  if (issues.length > 0) throw invalid(issues);
  return { settings: parsed.data, config };
}

function invalid(issues: string[]): Error {
  return new Error(`invalid configuration: ${issues.join('; ')}`);
}
