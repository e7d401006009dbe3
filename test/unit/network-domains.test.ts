// Unit tests for allowlist rules and the per-session policy decision: parsing, matching, guarded addresses, modes.
import { describe, expect, it } from 'vitest';
import {
  isGuardedAddress,
  matchHost,
  normalizeHost,
  parseDomainRule,
  parseDomainRules,
  splitDomainList,
} from '../../src/network/domains.js';
import {
  checkServerNetworkConfig,
  resolveSessionNetwork,
  type ServerNetworkConfig,
} from '../../src/network/policy.js';
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

  it('guards loopback, link-local, unspecified and multicast addresses', () => {
    for (const a of [
      '127.0.0.1',
      '127.8.0.1',
      '::1',
      '169.254.169.254',
      '0.0.0.0',
      '::',
      'fe80::1',
      '224.0.0.1',
      '::ffff:127.0.0.1',
    ])
      expect(isGuardedAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '10.1.2.3', '192.168.1.1', '2001:db8::1'])
      expect(isGuardedAddress(a), a).toBe(false);
  });
});

describe('session network policy', () => {
  const cfg = (o: Partial<ServerNetworkConfig> = {}): ServerNetworkConfig => ({
    networkDefault: 'none',
    networkAllowlist: '',
    allowFullNetwork: false,
    ...o,
  });

  it("defaults to the server's default, and allowed_domains alone means allowlist", () => {
    expect(resolveSessionNetwork(cfg(), {}).mode).toBe('none');
    expect(
      resolveSessionNetwork(cfg({ networkDefault: 'allowlist', networkAllowlist: 'pypi.org' }), {}),
    ).toMatchObject({
      mode: 'allowlist',
      rules: [{ text: 'pypi.org' }],
    });
    expect(resolveSessionNetwork(cfg(), { allowed_domains: ['a.example.com'] }).mode).toBe('allowlist');
  });

  it("uses the server's allowlist when the session names none, and refuses an empty one", () => {
    expect(
      resolveSessionNetwork(cfg({ networkAllowlist: 'x.org' }), { network: 'allowlist' }).rules[0]?.text,
    ).toBe('x.org');
    expect(codeOf(() => resolveSessionNetwork(cfg(), { network: 'allowlist' }))).toBe('invalid_argument');
  });

  it("grants 'full' only when the server allows it", () => {
    expect(codeOf(() => resolveSessionNetwork(cfg(), { network: 'full' }))).toBe('policy_denied');
    expect(resolveSessionNetwork(cfg({ allowFullNetwork: true }), { network: 'full' }).mode).toBe('full');
    expect(() => checkServerNetworkConfig(cfg({ networkDefault: 'full' }))).toThrow(/--allow-full-network/);
    expect(() => checkServerNetworkConfig(cfg({ networkDefault: 'allowlist' }))).toThrow(
      /--network-allowlist/,
    );
    expect(() => checkServerNetworkConfig(cfg({ networkAllowlist: '*.com' }))).toThrow(/top-level/);
  });

  it('refuses unknown modes and domains given with another mode', () => {
    expect(codeOf(() => resolveSessionNetwork(cfg(), { network: 'some' }))).toBe('invalid_argument');
    expect(codeOf(() => resolveSessionNetwork(cfg(), { network: 'none', allowed_domains: ['x.org'] }))).toBe(
      'invalid_argument',
    );
  });
});
