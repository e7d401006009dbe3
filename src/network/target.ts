// Decides whether the proxy may open a connection to host:port, and to which address. It never connects anywhere;
// the address it returns is the one the proxy must dial, so a second DNS answer cannot swap the destination.
import { isIP } from 'node:net';
import { isGuardedAddress, isLoopbackAddress, sameAddress } from './addresses.js';
import { isLocalhostName, matchHost, normalizeHost, ruleNamesLoopback, type DomainRule } from './domains.js';

/** The addresses of a host name; rejects with an error whose `code` names the failure (ETIMEOUT when too slow). */
export type Lookup = (host: string) => Promise<string[]>;

export type TargetDecision =
  | { ok: true; address: string; rule: DomainRule }
  /** `timedOut`: the name got no answer in time (the proxy answers 504, not 502). */
  | { ok: false; denied: boolean; reason: string; rule: DomainRule | null; timedOut?: boolean };

/** Keeps a client-supplied string printable and short before it goes into logs, headers and messages. */
export function printable(raw: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = raw.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function allowedAddress(rule: DomainRule, addr: string): boolean {
  if (!isGuardedAddress(addr)) return true;
  if (rule.kind === 'exact' && sameAddress(rule.host, addr)) return true;
  return isLoopbackAddress(addr) && ruleNamesLoopback(rule);
}

export async function decideTarget(
  rules: readonly DomainRule[],
  rawHost: string,
  port: number,
  resolve: Lookup,
): Promise<TargetDecision> {
  const shown = printable(rawHost);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, denied: true, reason: `port ${port} of '${shown}' is not a valid port`, rule: null };
  }
  const host = normalizeHost(rawHost);
  if (host === null)
    return { ok: false, denied: true, reason: `'${shown}' is not a valid host name`, rule: null };
  const rule = matchHost(rules, host);
  if (!rule) {
    const list = rules.map((r) => r.text).join(', ') || '(empty)';
    return {
      ok: false,
      denied: true,
      reason: `'${host}' is not in this session's allowlist (${list})`,
      rule: null,
    };
  }
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else if (isLocalhostName(host)) addresses = ['127.0.0.1'];
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err);
      if (code === 'ETIMEOUT') {
        const why = `'${host}' could not be resolved: ${(err as Error).message} (${code})`;
        return { ok: false, denied: false, reason: why, rule, timedOut: true };
      }
      return { ok: false, denied: false, reason: `'${host}' could not be resolved (${code})`, rule };
    }
  }
  if (addresses.length === 0) return { ok: false, denied: false, reason: `'${host}' has no address`, rule };
  const address = addresses.find((a) => allowedAddress(rule, a));
  if (address === undefined) {
    return {
      ok: false,
      denied: true,
      reason:
        `'${host}' resolves to ${addresses.join(', ')}, a loopback, unspecified, link-local, multicast or reserved address; ` +
        `rule '${rule.text}' does not name it, and only a rule naming localhost or the address itself reaches such addresses`,
      rule,
    };
  }
  return { ok: true, address, rule };
}
