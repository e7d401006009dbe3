// Decides a session's network policy from what the client asked and what the server allows. Pure: it never
// starts a proxy, never touches a box, and never grants `full` unless the server's configuration opted in.
import { SandboxError, invalidArgument } from '../errors.js';
import { parseDomainRules, splitDomainList, type DomainRule } from './domains.js';

export const NETWORK_MODES = ['none', 'allowlist', 'full'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/** The server-wide part of the configuration the policy needs. */
export interface ServerNetworkConfig {
  networkDefault: NetworkMode;
  /** Default allowlist rules, comma- or space-separated. */
  networkAllowlist: string;
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

/** Checks the server's own settings once at start, so a bad default fails the server, not every session. */
export function checkServerNetworkConfig(cfg: ServerNetworkConfig): DomainRule[] {
  const rules = parseDomainRules(splitDomainList(cfg.networkAllowlist));
  if (cfg.networkDefault === 'full' && !cfg.allowFullNetwork) {
    throw new Error('--network-default full needs --allow-full-network as well');
  }
  if (cfg.networkDefault === 'allowlist' && rules.length === 0) {
    throw new Error('--network-default allowlist needs --network-allowlist with at least one domain');
  }
  return rules;
}

export function resolveSessionNetwork(cfg: ServerNetworkConfig, req: NetworkRequest): SessionNetwork {
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
  const rules = req.allowed_domains?.length
    ? parseDomainRules(req.allowed_domains)
    : parseDomainRules(splitDomainList(cfg.networkAllowlist));
  if (rules.length === 0) {
    throw invalidArgument(
      'network \'allowlist\' needs allowed_domains (e.g. ["pypi.org", "*.example.com"]); the server has no default allowlist',
      { network: 'allowlist' },
    );
  }
  return { mode: 'allowlist', rules };
}
