// Decides a session's network policy from what the client asked and what the server allows, and describes it. Pure:
// it never starts a proxy, never touches a box, and never grants `full` unless the server's configuration opted in.
import { SandboxError, invalidArgument } from '../errors.js';
import { RELAY_URL } from './box-wiring.js';
import { parseDomainRules, splitDomainList, type DomainRule } from './domains.js';
import type { ProxyDenial } from './proxy.js';

export const NETWORK_MODES = ['none', 'allowlist', 'full'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/** The server-wide part of the configuration the policy needs. */
export interface ServerNetworkConfig {
  networkDefault: NetworkMode;
  /** Default allowlist rules, comma- or space-separated. */
  networkAllowlist: string;
  allowFullNetwork: boolean;
}

/** The server's settings once checked at start, with the default allowlist already parsed. */
export interface ServerNetworkPolicy {
  networkDefault: NetworkMode;
  /** The default allowlist's rules; empty when the server has none. */
  defaultRules: readonly DomainRule[];
  allowFullNetwork: boolean;
}

export interface NetworkRequest {
  network?: string | undefined;
  allowed_domains?: readonly string[] | undefined;
}

export interface SessionNetwork {
  mode: NetworkMode;
  /** Empty unless mode is allowlist. */
  rules: DomainRule[];
}

export const FULL_NETWORK_HINT =
  "ask the server's operator to start it with --allow-full-network (or SANDBOX_MCP_ALLOW_FULL_NETWORK=1), " +
  "or use network 'allowlist' with allowed_domains naming the hosts you need";

export function isNetworkMode(value: string): value is NetworkMode {
  return (NETWORK_MODES as readonly string[]).includes(value);
}

/**
 * Checks the server's own settings once at start, so a bad default fails the server, not every session; the result
 * is what resolveSessionNetwork decides from.
 */
export function checkServerNetworkConfig(cfg: ServerNetworkConfig): ServerNetworkPolicy {
  const rules = parseDomainRules(splitDomainList(cfg.networkAllowlist));
  if (cfg.networkDefault === 'full' && !cfg.allowFullNetwork) {
    throw new Error('--network-default full needs --allow-full-network as well');
  }
  if (cfg.networkDefault === 'allowlist' && rules.length === 0) {
    throw new Error('--network-default allowlist needs --network-allowlist with at least one domain');
  }
  return { networkDefault: cfg.networkDefault, defaultRules: rules, allowFullNetwork: cfg.allowFullNetwork };
}

export function resolveSessionNetwork(cfg: ServerNetworkPolicy, req: NetworkRequest): SessionNetwork {
  const asked = req.network ?? (req.allowed_domains?.length ? 'allowlist' : cfg.networkDefault);
  if (!isNetworkMode(asked)) {
    throw invalidArgument(`network must be one of ${NETWORK_MODES.join(', ')}; got '${asked}'`, {
      network: asked,
    });
  }
  if (asked !== 'allowlist' && req.allowed_domains?.length) {
    throw invalidArgument(`allowed_domains only applies to network 'allowlist', not '${asked}'`, {
      network: asked,
    });
  }
  if (asked === 'full') {
    if (!cfg.allowFullNetwork) {
      throw new SandboxError(
        'policy_denied',
        "network 'full' is not allowed by this server's configuration",
        { network: 'full', allowed_modes: ['none', 'allowlist'] },
        FULL_NETWORK_HINT,
      );
    }
    return { mode: 'full', rules: [] };
  }
  if (asked === 'none') return { mode: 'none', rules: [] };
  const rules = req.allowed_domains?.length ? parseDomainRules(req.allowed_domains) : [...cfg.defaultRules];
  if (rules.length === 0) {
    throw invalidArgument(
      'network \'allowlist\' needs allowed_domains (e.g. ["pypi.org", "*.example.com"]); the server has no default allowlist',
      { network: 'allowlist' },
    );
  }
  return { mode: 'allowlist', rules };
}

/** What a session's code can reach; create_session, get_execution_info and get_sandbox_limitations all give this. */
export interface NetworkDescription {
  mode: NetworkMode;
  /** False without isolation: the code then has the host's network whatever the mode says. */
  enforced: boolean;
  /** The allowlist's rules as written; empty unless mode is allowlist. */
  allowed_domains: string[];
  /** Inside the box: where programs find the proxy (the relay), or null. */
  proxy: string | null;
  /** The last connections the session's proxy refused, oldest first. */
  recent_denials: ProxyDenial[];
  summary: string;
}

/** What describeNetwork needs to know about a session and the server. */
export interface NetworkFacts {
  mode: string;
  /** The server runs code in boxes (isolation bwrap). */
  isolated: boolean;
  /** The server still allows `full` (a `full` session restored without it runs with no network). */
  fullAllowed: boolean;
  rules: readonly DomainRule[];
  denials: readonly ProxyDenial[];
}

export function describeNetwork(f: NetworkFacts): NetworkDescription {
  const mode: NetworkMode = isNetworkMode(f.mode) ? f.mode : 'none';
  const domains = mode === 'allowlist' ? f.rules.map((r) => r.text) : [];
  return {
    mode,
    enforced: f.isolated,
    allowed_domains: domains,
    proxy: mode === 'allowlist' && f.isolated ? RELAY_URL : null,
    recent_denials: [...f.denials],
    summary: networkSummary(mode, domains, f),
  };
}

function networkSummary(mode: NetworkMode, domains: readonly string[], f: NetworkFacts): string {
  if (!f.isolated) {
    return mode === 'full'
      ? "full network: the host's network, as the server user (isolation is off)"
      : `the host's network, as the server user: network '${mode}' is NOT enforced because isolation is off`;
  }
  if (mode === 'allowlist') {
    return `only ${domains.join(', ')} through the sandbox proxy (http and https); everything else is refused as network_denied`;
  }
  if (mode === 'full') {
    return f.fullAllowed
      ? "full network: the box shares the host's network"
      : "no network: this session was created with full network, which the server's configuration no longer allows";
  }
  return 'no network: the box has its own network namespace with only loopback; servers started in this session are reachable on localhost';
}
