// get_sandbox_limitations' answer, built from inputs only: it states nothing the inputs do not show.
import { describe, expect, it } from 'vitest';
import { parseDomainRules } from '../../src/network/domains.js';
import { describeNetwork, type NetworkFacts } from '../../src/network/policy.js';
import { describeLimitations, type LimitationsInput } from '../../src/server/limitations.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

const net = (o: Partial<NetworkFacts> = {}) =>
  describeNetwork({ mode: 'none', isolated: true, fullAllowed: false, rules: [], denials: [], ...o });

const base: LimitationsInput = {
  sessionId: 's_x',
  workspace: '/workspace',
  network: net(),
  timeoutS: 60,
  memoryMb: 1024,
  pids: 256,
  diskFreeBytes: 5 * 2 ** 30,
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

  it('gives the free disk space and says no quota of its own guards it', () => {
    const l = describeLimitations(base);
    const disk = l.limits.find((x) => x.name === 'workspace disk space');
    expect(disk).toMatchObject({ value: 5120, unit: 'MiB free' });
    expect(disk?.enforced_by).toMatch(/^not per session/);
    expect(l.cannot.join('\n')).toMatch(/no per-session disk quota/);
    const unknown = describeLimitations({ ...base, diskFreeBytes: null });
    expect(unknown.limits.find((x) => x.name === 'workspace disk space')).toBeUndefined();
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
      network: net({ isolated: false }),
      mechanisms: { isolation: 'none', memory: 'none', pids: 'none', seccomp: false },
    });
    expect(l.cannot[0]).toMatch(/^WARNING: isolation is off/);
    expect(l.isolation.namespaces).toEqual([]);
    expect(l.network).toMatchObject({ policy: 'none', enforced: false });
    expect(l.network.description).toMatch(/host's network.*NOT enforced/);
    expect(l.cannot.join('\n')).not.toMatch(/network beyond localhost|outside the allowlist/);
    expect(l.filesystem.writable).toEqual(['everything the server user can write']);
    expect(l.filesystem.workspace).toBe('/srv/ws');
  });

  it('follows the session network policy', () => {
    const none = describeLimitations(base);
    expect(none.network).toEqual({
      policy: 'none',
      description: base.network.summary,
      enforced: true,
      allowed_domains: [],
      proxy: null,
      recent_denials: [],
    });
    expect(none.cannot.join('\n')).toMatch(/network beyond localhost/);
    const full = describeLimitations({ ...base, network: net({ mode: 'full', fullAllowed: true }) });
    expect(full.network.description).toMatch(/^full network/);
    expect(full.isolation.namespaces).not.toContain('network');
    expect(full.cannot.join('\n')).not.toMatch(/network beyond localhost/);
  });

  it("gives an allowlist session's domains, its proxy and its recent denials from the network description", () => {
    const denial = {
      at: '2025-01-01T00:00:00.000Z',
      method: 'CONNECT',
      host: 'evil.example.net',
      port: 443,
      reason: "'evil.example.net' is not in this session's allowlist (*.example.com, pypi.org)",
      rule: null,
    };
    const network = net({
      mode: 'allowlist',
      rules: parseDomainRules(['pypi.org', '*.example.com']),
      denials: [denial],
    });
    const l = describeLimitations({ ...base, network });
    expect(l.network).toEqual({
      policy: 'allowlist',
      description: network.summary,
      enforced: true,
      allowed_domains: ['*.example.com', 'pypi.org'],
      proxy: network.proxy,
      recent_denials: [denial],
    });
    expect(l.isolation.namespaces).toContain('network');
    const cannot = l.cannot.join('\n');
    expect(cannot).toMatch(/reach hosts outside the allowlist \(\*\.example\.com, pypi\.org\)/);
    expect(cannot).not.toMatch(/network beyond localhost/);
  });
});
