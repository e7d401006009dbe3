// Unit tests for configuration: defaults, environment, flags and refusal of bad values.
import { describe, expect, it } from 'vitest';
import { defaultDataDir, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig({}, { HOME: '/home/u' });
    expect(c).toMatchObject({
      timeoutS: 60,
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

  it('finds the data dir from SANDBOX_MCP_HOME, then XDG_DATA_HOME', () => {
    expect(defaultDataDir({ SANDBOX_MCP_HOME: '/d' })).toBe('/d');
    expect(defaultDataDir({ XDG_DATA_HOME: '/x' })).toBe('/x/sandbox-mcp');
  });
});
