// Allowlist rules for the network proxy: parsing `host` / `*.suffix` rules and matching a requested host against them.
// Pure functions; must never resolve names or touch the network.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { invalidArgument } from '../errors.js';
import { isLoopbackAddress } from './addresses.js';

/** One parsed rule: `exact` matches the host itself, `suffix` any host strictly below it (`*.example.com`). */
export interface DomainRule {
  kind: 'exact' | 'suffix';
  /** Lower-case ASCII host (punycode) or IP literal, without the `*.`. */
  host: string;
  /** The rule as written back to users, e.g. `*.example.com`. */
  text: string;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case, punycode, no trailing dot, IPv6 without brackets; null when it is not a host name or IP literal. */
export function normalizeHost(raw: string): string | null {
  let h = raw.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIP(h)) return h.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253) return null;
  const ascii = domainToASCII(h);
  if (!ascii) return null;
  const labels = ascii.split('.');
  // Underscores appear in some real DNS names (_dmarc, service records), never in hosts a client dials.
  return labels.every((l) => LABEL.test(l)) ? ascii : null;
}

/**
 * Parses one rule. Wildcards must name at least two labels below them (`*.example.com`, not `*.com`), because a
 * rule for a whole top-level domain is full network in disguise; `*.localhost` is the exception (RFC 6761 loopback).
 */
export function parseDomainRule(raw: string): DomainRule {
  const text = raw.trim().toLowerCase();
  const wildcard = text.startsWith('*.');
  const host = normalizeHost(wildcard ? text.slice(2) : text);
  if (host === null || text.includes('*', wildcard ? 1 : 0)) {
    throw invalidArgument(
      `'${raw}' is not a domain rule: use a host name (pypi.org), an IP address, or '*.' and a domain (*.example.com)`,
      { rule: raw },
    );
  }
  if (wildcard) {
    if (isIP(host)) throw invalidArgument(`'${raw}': a wildcard cannot name an IP address`, { rule: raw });
    if (!host.includes('.') && host !== 'localhost') {
      throw invalidArgument(`'${raw}' would allow a whole top-level domain; name a domain below it`, {
        rule: raw,
      });
    }
    return { kind: 'suffix', host, text: `*.${host}` };
  }
  return { kind: 'exact', host, text: isIP(host) === 6 ? `[${host}]` : host };
}

/** Parses, de-duplicates and sorts a list of rules; throws invalid_argument on the first bad one. */
export function parseDomainRules(raw: readonly string[]): DomainRule[] {
  const seen = new Map<string, DomainRule>();
  for (const r of raw) {
    if (r.trim() === '') continue;
    const rule = parseDomainRule(r);
    seen.set(rule.text, rule);
  }
  return [...seen.values()].sort((a, b) => a.text.localeCompare(b.text));
}

/** Splits a server-flag style list: commas or whitespace between rules. */
export function splitDomainList(list: string): string[] {
  return list.split(/[\s,]+/).filter((s) => s.length > 0);
}

/** The rule that lets `host` through, or null. IP literals only match exact IP rules, never wildcards. */
export function matchHost(rules: readonly DomainRule[], rawHost: string): DomainRule | null {
  const host = normalizeHost(rawHost);
  if (host === null) return null;
  for (const rule of rules) {
    if (rule.kind === 'exact' && rule.host === host) return rule;
    if (rule.kind === 'suffix' && !isIP(host) && host.endsWith(`.${rule.host}`)) return rule;
  }
  return null;
}

/** `localhost` and names below it always mean this machine (RFC 6761), whatever DNS says. */
export function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

/** A rule that deliberately names this machine: only such a rule may lead to a loopback address. */
export function ruleNamesLoopback(rule: DomainRule): boolean {
  if (rule.kind === 'suffix') return rule.host === 'localhost';
  return isLocalhostName(rule.host) || isLoopbackAddress(rule.host);
}
