// Classifies IP addresses for the proxy's guard: every IPv6 form that carries an IPv4 address is judged as that IPv4.
// Pure; never resolves names or touches the network.
import { BlockList, isIP } from 'node:net';

/** IPv4 ranges that lead back to this machine or nowhere routable: never dialled unless a rule names them. */
const GUARDED_V4 = new BlockList();
GUARDED_V4.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network": 0.0.0.0 is the host itself on Linux
GUARDED_V4.addSubnet('127.0.0.0', 8, 'ipv4'); // loopback
GUARDED_V4.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local (cloud metadata at 169.254.169.254)
GUARDED_V4.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
GUARDED_V4.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, and the broadcast 255.255.255.255

const GUARDED_V6 = new BlockList();
GUARDED_V6.addAddress('::', 'ipv6'); // unspecified: the host itself
GUARDED_V6.addAddress('::1', 'ipv6');
GUARDED_V6.addSubnet('fe80::', 10, 'ipv6'); // link-local
GUARDED_V6.addSubnet('fec0::', 10, 'ipv6'); // site-local (deprecated, still routed locally by some hosts)
GUARDED_V6.addSubnet('ff00::', 8, 'ipv6'); // multicast

/** The eight 16-bit groups of an IPv6 address (zone dropped), or null when `addr` is not one. */
export function ipv6Groups(addr: string): number[] | null {
  const a = addr.split('%')[0]!.toLowerCase();
  if (isIP(a) !== 6) return null;
  let text = a;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [p, q, r, s] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    tail.push((p << 8) | q, (r << 8) | s);
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = parse(head);
  const right = [...(rest === undefined ? [] : parse(rest)), ...tail];
  if (rest === undefined) return [...left, ...right];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * The IPv4 address an IPv6 address stands for, or null: IPv4-mapped (::ffff:a.b.c.d), IPv4-translated
 * (::ffff:0:a.b.c.d), IPv4-compatible (::a.b.c.d, but not :: and ::1) and the NAT64 well-known prefix
 * (64:ff9b::a.b.c.d), in any spelling (hex groups, dotted tail, leading zeros).
 */
export function embeddedIPv4(addr: string): string | null {
  const g = ipv6Groups(addr);
  if (!g) return null;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const [hi, lo] = [g[6]!, g[7]!];
  if (zero(0, 5) && g[5] === 0xffff) return v4(hi, lo);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(hi, lo);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(hi, lo);
  if (zero(0, 6) && !(hi === 0 && lo <= 1)) return v4(hi, lo);
  return null;
}

/** The form every check compares: lower-case, no zone, IPv6 that carries an IPv4 address as that IPv4; null if not an IP. */
export function canonicalAddress(addr: string): string | null {
  const a = addr.split('%')[0]!.toLowerCase();
  const family = isIP(a);
  if (family === 4) return a;
  if (family !== 6) return null;
  const inner = embeddedIPv4(a);
  if (inner) return inner;
  return ipv6Groups(a)!
    .map((x) => x.toString(16))
    .join(':');
}

/** 127.0.0.0/8 and ::1, in every IPv6 form that carries them. */
export function isLoopbackAddress(addr: string): boolean {
  const c = canonicalAddress(addr);
  if (c === null) return false;
  return isIP(c) === 4 ? c.startsWith('127.') : c === '0:0:0:0:0:0:0:1';
}

/**
 * Addresses a proxied connection must never reach unless a rule names them: loopback and 0.0.0.0/8 (the host's own
 * services), link-local (cloud metadata endpoints at 169.254.169.254), unspecified, multicast, reserved and
 * broadcast, in every IPv6 form that carries such an IPv4 address.
 */
export function isGuardedAddress(addr: string): boolean {
  const c = canonicalAddress(addr);
  if (c === null) return false;
  return isIP(c) === 4 ? GUARDED_V4.check(c, 'ipv4') : GUARDED_V6.check(c, 'ipv6');
}

/** Whether two IP literals name the same address once both are in their canonical form. */
export function sameAddress(a: string, b: string): boolean {
  const ca = canonicalAddress(a);
  return ca !== null && ca === canonicalAddress(b);
}
