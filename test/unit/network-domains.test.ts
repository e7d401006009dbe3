// Unit tests for allowlist rules and the per-session policy: parsing, matching, modes, description.
import { describe, expect, it } from 'vitest';
import {
  matchHost,
  normalizeHost,
  parseDomainRule,
  parseDomainRules,
  splitDomainList,
} from '../../src/network/domains.js';
import { RELAY_URL } from '../../src/network/box-wiring.js';
import {
  checkServerNetworkConfig,
  describeNetwork,
  resolveSessionNetwork,
  type NetworkFacts,
  type ServerNetworkConfig,
} from '../../src/network/policy.js';
import type { ProxyDenial } from '../../src/network/proxy.js';
import { SandboxError } from '../../src/errors.js';

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof SandboxError ? e.code : `not a SandboxError: ${String(e)}`;
  }
  return 'no error';
};

describe('domain rules', () => {
  it('normalizes hosts: case, trailing dot, IPv6 brackets, punycode', () => {
    expect(normalizeHost('PyPI.org.')).toBe('pypi.org');
    expect(normalizeHost('[::1]')).toBe('::1');
    expect(normalizeHost('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normalizeHost('bad host')).toBeNull();
    expect(normalizeHost('-x.com')).toBeNull();
  });

  it('parses exact and wildcard rules and refuses whole top-level domains', () => {
    expect(parseDomainRule('*.Example.com')).toEqual({
      kind: 'suffix',
      host: 'example.com',
      text: '*.example.com',
    });
    expect(parseDomainRule('127.0.0.1')).toEqual({ kind: 'exact', host: '127.0.0.1', text: '127.0.0.1' });
    expect(parseDomainRule('*.localhost').kind).toBe('suffix');
    expect(codeOf(() => parseDomainRule('*.com'))).toBe('invalid_argument');
    expect(codeOf(() => parseDomainRule('*'))).toBe('invalid_argument');
    expect(codeOf(() => parseDomainRule('a.*.com'))).toBe('invalid_argument');
    expect(codeOf(() => parseDomainRule('*.10.0.0.1'))).toBe('invalid_argument');
    expect(codeOf(() => parseDomainRule('http://pypi.org'))).toBe('invalid_argument');
  });

  it('matches exact hosts and names strictly below a wildcard, never IPs by wildcard', () => {
    const rules = parseDomainRules(['pypi.org', '*.example.com', '10.0.0.5']);
    expect(matchHost(rules, 'PYPI.ORG')?.text).toBe('pypi.org');
    expect(matchHost(rules, 'evilpypi.org')).toBeNull();
    expect(matchHost(rules, 'a.b.example.com')?.text).toBe('*.example.com');
    expect(matchHost(rules, 'example.com')).toBeNull();
    expect(matchHost(rules, 'example.com.evil.net')).toBeNull();
    expect(matchHost(rules, '10.0.0.5')?.text).toBe('10.0.0.5');
    expect(matchHost(rules, '10.0.0.6')).toBeNull();
  });

  it('splits server lists on commas and spaces and de-duplicates', () => {
    expect(parseDomainRules(splitDomainList('pypi.org, PyPI.org *.x.io')).map((r) => r.text)).toEqual([
      '*.x.io',
      'pypi.org',
    ]);
  });
});

describe('session network policy', () => {
  const cfg = (o: Partial<ServerNetworkConfig> = {}): ServerNetworkConfig => ({
    networkDefault: 'none',
    networkAllowlist: '',
    allowFullNetwork: false,
    ...o,
  });
  /** The server's settings as checked at start, which is what sessions are decided from. */
  const srv = (o: Partial<ServerNetworkConfig> = {}) => checkServerNetworkConfig(cfg(o));

  it("defaults to the server's default, and allowed_domains alone means allowlist", () => {
    expect(resolveSessionNetwork(srv(), {}).mode).toBe('none');
    expect(
      resolveSessionNetwork(srv({ networkDefault: 'allowlist', networkAllowlist: 'pypi.org' }), {}),
    ).toMatchObject({
      mode: 'allowlist',
      rules: [{ text: 'pypi.org' }],
    });
    expect(resolveSessionNetwork(srv(), { allowed_domains: ['a.example.com'] }).mode).toBe('allowlist');
  });

  it("uses the server's allowlist when the session names none, and refuses an empty one", () => {
    expect(
      resolveSessionNetwork(srv({ networkAllowlist: 'x.org' }), { network: 'allowlist' }).rules[0]?.text,
    ).toBe('x.org');
    expect(codeOf(() => resolveSessionNetwork(srv(), { network: 'allowlist' }))).toBe('invalid_argument');
  });

  it('parses the default allowlist once at start and decides sessions from the parsed rules', () => {
    const server = checkServerNetworkConfig(cfg({ networkAllowlist: 'X.org, *.Example.com' }));
    expect(server.defaultRules.map((r) => r.text)).toEqual(['*.example.com', 'x.org']);
    // Only the checked rules are consulted: there is no allowlist text left to parse again.
    const custom = { ...server, defaultRules: parseDomainRules(['only.example.org']) };
    expect(resolveSessionNetwork(custom, { network: 'allowlist' }).rules.map((r) => r.text)).toEqual([
      'only.example.org',
    ]);
    // A session's own rules replace the default ones, and the defaults are not changed by it.
    expect(resolveSessionNetwork(server, { allowed_domains: ['pypi.org'] }).rules.map((r) => r.text)).toEqual(
      ['pypi.org'],
    );
    expect(server.defaultRules).toHaveLength(2);
  });

  it("grants 'full' only when the server allows it", () => {
    expect(codeOf(() => resolveSessionNetwork(srv(), { network: 'full' }))).toBe('policy_denied');
    expect(resolveSessionNetwork(srv({ allowFullNetwork: true }), { network: 'full' }).mode).toBe('full');
    expect(() => checkServerNetworkConfig(cfg({ networkDefault: 'full' }))).toThrow(/--allow-full-network/);
    expect(() => checkServerNetworkConfig(cfg({ networkDefault: 'allowlist' }))).toThrow(
      /--network-allowlist/,
    );
    expect(() => checkServerNetworkConfig(cfg({ networkAllowlist: '*.com' }))).toThrow(/top-level/);
  });

  it('refuses unknown modes and domains given with another mode', () => {
    expect(codeOf(() => resolveSessionNetwork(srv(), { network: 'some' }))).toBe('invalid_argument');
    expect(codeOf(() => resolveSessionNetwork(srv(), { network: 'none', allowed_domains: ['x.org'] }))).toBe(
      'invalid_argument',
    );
  });
});

describe('network description', () => {
  const denial: ProxyDenial = {
    at: '2025-01-01T00:00:00.000Z',
    method: 'GET',
    host: 'other.example.com',
    port: 80,
    reason: "'other.example.com' is not in this session's allowlist (pypi.org)",
    rule: null,
  };
  const facts = (o: Partial<NetworkFacts> = {}): NetworkFacts => ({
    mode: 'none',
    isolated: true,
    fullAllowed: false,
    rules: [],
    denials: [],
    ...o,
  });

  it('describes an allowlist session with its domains, the proxy inside the box and its denials', () => {
    const d = describeNetwork(
      facts({ mode: 'allowlist', rules: parseDomainRules(['pypi.org', '*.example.com']), denials: [denial] }),
    );
    expect(d).toMatchObject({
      mode: 'allowlist',
      enforced: true,
      allowed_domains: ['*.example.com', 'pypi.org'],
      proxy: RELAY_URL,
      recent_denials: [denial],
    });
    expect(d.summary).toMatch(/^only \*\.example\.com, pypi\.org through the sandbox proxy/);
  });

  it('copies the denials, so later ones do not change an answer already given', () => {
    const denials = [denial];
    const d = describeNetwork(facts({ mode: 'allowlist', rules: parseDomainRules(['pypi.org']), denials }));
    denials.push({ ...denial, host: 'later.example.com' });
    expect(d.recent_denials).toHaveLength(1);
  });

  it('lists no domains and no proxy outside allowlist mode, and reads an unknown mode as none', () => {
    const none = describeNetwork(facts({ rules: parseDomainRules(['pypi.org']) }));
    expect(none).toMatchObject({ mode: 'none', allowed_domains: [], proxy: null });
    expect(none.summary).toMatch(/^no network: .*only loopback/);
    expect(describeNetwork(facts({ mode: 'odd' })).mode).toBe('none');
  });

  it("says when 'full' is in force and when the server no longer allows it", () => {
    expect(describeNetwork(facts({ mode: 'full', fullAllowed: true })).summary).toMatch(
      /^full network: the box shares the host's network/,
    );
    expect(describeNetwork(facts({ mode: 'full' })).summary).toMatch(/^no network: .*no longer allows/);
  });

  it('never claims a policy is in force without isolation', () => {
    for (const mode of ['none', 'allowlist']) {
      const d = describeNetwork(facts({ mode, isolated: false, rules: parseDomainRules(['pypi.org']) }));
      expect(d.enforced).toBe(false);
      expect(d.proxy).toBeNull();
      expect(d.summary).toMatch(
        new RegExp(`^the host's network, as the server user: network '${mode}' is NOT enforced`),
      );
    }
  });
});
