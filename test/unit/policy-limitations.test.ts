// get_sandbox_limitations' answer, built from inputs only: it states nothing the inputs do not show.
import { describe, expect, it } from 'vitest';
import { describeLimitations, type LimitationsInput } from '../../src/policy/limitations.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

const base: LimitationsInput = {
  sessionId: 's_x',
  workspace: '/workspace',
  network: 'none',
  timeoutS: 60,
  memoryMb: 1024,
  pids: 256,
  mechanisms: { isolation: 'bwrap', memory: 'cgroup', pids: 'cgroup', seccomp: true },
  config: { fileSizeMb: 100, openFiles: 512, outputCap: 32768, graceMs: 2000 },
  policy: { source: 'built-in defaults', rules: DEFAULT_RULES },
  python: { version: '3.11.2', executable: '/usr/bin/python3', venv: false },
};

describe('describeLimitations', () => {
  it('describes a fully enforced box', () => {
    const l = describeLimitations(base);
    expect(l.isolation.namespaces).toContain('network');
    expect(l.limits.find((x) => x.name === 'memory')).toMatchObject({ value: 1024, enforced_by: 'cgroup' });
    expect(l.limits.find((x) => x.name === 'file size')).toMatchObject({ value: 100 });
    expect(l.cannot.join('\n')).toMatch(/seccomp/);
    expect(l.cannot.join('\n')).toMatch(/more than 1024 MiB/);
    expect(l.cannot.join('\n')).not.toMatch(/WARNING/);
    expect(l.shell.denied).toHaveLength(DEFAULT_RULES.length);
  });

  it('says which limits this machine does not enforce, and never claims them', () => {
    const l = describeLimitations({
      ...base,
      mechanisms: { isolation: 'bwrap', memory: 'none', pids: 'none', seccomp: false },
    });
    expect(l.limits.find((x) => x.name === 'memory')?.enforced_by).toBe('not enforced on this machine');
    const cannot = l.cannot.join('\n');
    expect(cannot).toMatch(/memory limit is not enforced/);
    expect(cannot).not.toMatch(/more than 1024 MiB/);
    expect(cannot).not.toMatch(/seccomp/);
  });

  it('warns loudly without isolation', () => {
    const l = describeLimitations({
      ...base,
      workspace: '/srv/ws',
      mechanisms: { isolation: 'none', memory: 'none', pids: 'none', seccomp: false },
    });
    expect(l.cannot[0]).toMatch(/^WARNING: isolation is off/);
    expect(l.isolation.namespaces).toEqual([]);
    expect(l.network.description).toMatch(/host's network/);
    expect(l.filesystem.writable).toEqual(['everything the server user can write']);
    expect(l.filesystem.workspace).toBe('/srv/ws');
  });

  it('follows the session network policy', () => {
    expect(describeLimitations({ ...base, network: 'allowlist' }).network.description).toMatch(
      /allowlisted hosts/,
    );
    const full = describeLimitations({ ...base, network: 'full' });
    expect(full.isolation.namespaces).not.toContain('network');
    expect(full.cannot.join('\n')).not.toMatch(/network beyond localhost/);
  });
});
