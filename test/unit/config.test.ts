// Unit tests for configuration: defaults, environment, flags and refusal of bad values.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultDataDir, loadConfig, withClientShare } from '../../src/config.js';
import { hostPidsLimit } from '../../src/sandbox/host-capacity.js';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig({}, { HOME: '/home/u' });
    expect(c).toMatchObject({
      timeoutS: 50,
      memoryMb: 1024,
      pids: 256,
      isolation: 'bwrap',
      host: '127.0.0.1',
      port: 8765,
    });
    expect(c.dataDir).toBe('/home/u/.local/share/sandbox-mcp');
  });

  it('lets flags win over the environment', () => {
    const c = loadConfig(
      { timeoutS: '5' },
      { SANDBOX_MCP_TIMEOUT: '9', SANDBOX_MCP_MEMORY_MB: '512', HOME: '/h' },
    );
    expect(c.timeoutS).toBe(5);
    expect(c.memoryMb).toBe(512);
  });

  it('refuses bad values with a readable message', () => {
    expect(() => loadConfig({ isolation: 'chroot' }, {})).toThrow(/isolation/);
    expect(() => loadConfig({ timeoutS: '-1' }, {})).toThrow(/timeoutS/);
  });

  it('derives the global caps from the host: 3/4 of its memory, half of its pid limit', () => {
    const c = loadConfig({}, { HOME: '/h' });
    const ram = Math.min(totalmem(), process.constrainedMemory() || Infinity);
    expect(c.totalMemoryMb).toBe(Math.max(1024, Math.floor(Math.floor(ram / 2 ** 20) * 0.75)));
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    expect(hostPidsLimit()).toBeLessThanOrEqual(pidMax);
    expect(c.totalPids).toBe(Math.max(256, Math.floor(hostPidsLimit() / 2)));
    expect(c).toMatchObject({ maxSessions: 10, maxWebApps: 10, cpuQuota: 0 });
    expect(c.clientMemoryMb).toBeUndefined();
  });

  it('reads every cap from flags and SANDBOX_MCP_* variables', () => {
    const env = {
      SANDBOX_MCP_MAX_SESSIONS: '3',
      SANDBOX_MCP_MAX_WEB_APPS: '0',
      SANDBOX_MCP_CLIENT_MEMORY_MB: '2048',
      SANDBOX_MCP_TOTAL_MEMORY_MB: '4096',
      SANDBOX_MCP_TOTAL_PIDS: '1000',
      SANDBOX_MCP_CPU_QUOTA: '1.5',
    };
    expect(loadConfig({}, env)).toMatchObject({
      maxSessions: 3,
      maxWebApps: 0,
      clientMemoryMb: 2048,
      totalMemoryMb: 4096,
      totalPids: 1000,
      cpuQuota: 1.5,
    });
    expect(loadConfig({ maxSessions: '5', cpuQuota: '0' }, env)).toMatchObject({
      maxSessions: 5,
      cpuQuota: 0,
    });
  });

  it('shares the total memory between clients unless set, never below one session', () => {
    const c = loadConfig({ totalMemoryMb: '8192', memoryMb: '1024' }, {});
    expect(withClientShare(c, 1).clientMemoryMb).toBe(8192);
    expect(withClientShare(c, 4).clientMemoryMb).toBe(2048);
    expect(withClientShare(c, 100).clientMemoryMb).toBe(1024);
    expect(withClientShare({ ...c, clientMemoryMb: 3000 }, 4).clientMemoryMb).toBe(3000);
  });

  it('refuses caps that could not hold one session, and bad quotas', () => {
    expect(() => loadConfig({ memoryMb: '2048', totalMemoryMb: '1024' }, {})).toThrow(/totalMemoryMb/);
    expect(() => loadConfig({ memoryMb: '2048', clientMemoryMb: '1024' }, {})).toThrow(/clientMemoryMb/);
    expect(() => loadConfig({ pids: '256', totalPids: '100' }, {})).toThrow(/totalPids/);
    expect(() => loadConfig({ maxSessions: '0' }, {})).toThrow(/maxSessions/);
    expect(() => loadConfig({ cpuQuota: '0.001' }, {})).toThrow(/cpuQuota/);
    expect(() => loadConfig({ cpuQuota: '-1' }, {})).toThrow(/cpuQuota/);
  });

  it('finds the data dir from SANDBOX_MCP_HOME, then XDG_DATA_HOME', () => {
    expect(defaultDataDir({ SANDBOX_MCP_HOME: '/d' })).toBe('/d');
    expect(defaultDataDir({ XDG_DATA_HOME: '/x' })).toBe('/x/sandbox-mcp');
  });
});
