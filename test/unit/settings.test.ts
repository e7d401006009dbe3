// Unit tests for the settings table: each setting has an env variable and a flag, and every name users have works.
import { describe, expect, it } from 'vitest';
import { ENV_KEYS, loadConfig } from '../../src/config.js';
import { SETTING_KEYS, SETTINGS, SettingsSchema, defaultShown } from '../../src/settings.js';

/** The environment variables and flags the server took before the settings table: client configs hold them. */
const KNOWN_ENV: Record<string, string> = {
  SANDBOX_MCP_HOME: 'dataDir',
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
const KNOWN_FLAGS: Record<string, string> = {
  '--data-dir': 'dataDir',
  '--isolation': 'isolation',
  '--docker-image': 'dockerImage',
  '--docker-base-image': 'dockerBaseImage',
  '--python': 'python',
  '--timeout': 'timeoutS',
  '--memory-mb': 'memoryMb',
  '--pids': 'pids',
  '--max-sessions': 'maxSessions',
  '--max-web-apps': 'maxWebApps',
  '--client-memory-mb': 'clientMemoryMb',
  '--total-memory-mb': 'totalMemoryMb',
  '--total-pids': 'totalPids',
  '--box-uid': 'boxUid',
  '--cpu-quota': 'cpuQuota',
  '--idle-ttl': 'idleTtlS',
  '--session-retention': 'sessionRetentionS',
  '--pool-size': 'poolSize',
  '--preload': 'preload',
  '--max-backups': 'maxBackups',
  '--history-keep': 'historyKeep',
  '--history-days': 'historyDays',
  '--outputs-keep': 'outputsKeep',
  '--outputs-days': 'outputsDays',
  '--audit-days': 'auditDays',
  '--tools': 'tools',
  '--log-level': 'logLevel',
  '--policy-file': 'policyFile',
  '--network-default': 'networkDefault',
  '--network-allowlist': 'networkAllowlist',
  '--allow-full-network': 'allowFullNetwork',
  '--allow-package-urls': 'allowPackageUrls',
  '--host': 'host',
  '--port': 'port',
  '--token': 'token',
};

const flagName = (key: (typeof SETTING_KEYS)[number]) => SETTINGS[key].flag.split(' ')[0]!;

describe('settings table', () => {
  it('gives every setting an env variable, a flag and help, each its own', () => {
    for (const key of SETTING_KEYS) {
      const s = SETTINGS[key];
      expect(s.env, key).toMatch(/^SANDBOX_MCP_[A-Z][A-Z_]*$/);
      expect(s.flag, key).toMatch(/^--[a-z][a-z-]*( <[^>]+>)?$/);
      expect(s.help.length, key).toBeGreaterThan(10);
    }
    expect(new Set(SETTING_KEYS.map((k) => SETTINGS[k].env)).size).toBe(SETTING_KEYS.length);
    expect(new Set(SETTING_KEYS.map(flagName)).size).toBe(SETTING_KEYS.length);
  });

  it('is every setting of the configuration, and the env mapping is every row', () => {
    expect(Object.keys(SettingsSchema.shape).sort()).toEqual([...SETTING_KEYS].sort());
    const config = loadConfig({ dataDir: '/d' }, {});
    for (const key of SETTING_KEYS)
      if (SETTINGS[key].schema.safeParse(undefined).data !== undefined)
        expect(config, key).toHaveProperty(key);
    expect([...ENV_KEYS.values()].sort()).toEqual([...SETTING_KEYS].sort());
  });

  it('keeps every environment variable and flag users already have', () => {
    for (const [env, key] of Object.entries(KNOWN_ENV)) expect(ENV_KEYS.get(env), env).toBe(key);
    const byFlag = new Map(SETTING_KEYS.map((k) => [flagName(k), k]));
    for (const [flag, key] of Object.entries(KNOWN_FLAGS)) expect(byFlag.get(flag), flag).toBe(key);
  });

  it('shows each default from its value, or says what it depends on', () => {
    expect(defaultShown('timeoutS')).toBe('50');
    expect(defaultShown('allowFullNetwork')).toBe('off');
    expect(defaultShown('networkAllowlist')).toBe('none');
    for (const key of SETTING_KEYS) expect(defaultShown(key).length, key).toBeGreaterThan(0);
  });

  it('offers as flag choices exactly the values the setting accepts', () => {
    for (const key of SETTING_KEYS) {
      const choices = SETTINGS[key].choices;
      if (!choices) continue;
      for (const c of choices) expect(SETTINGS[key].schema.safeParse(c).success, `${key}=${c}`).toBe(true);
      expect(SETTINGS[key].schema.safeParse('no-such-choice').success, key).toBe(false);
    }
  });
});
