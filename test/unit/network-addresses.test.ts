// Unit tests for the proxy's address guard: every IPv6 spelling of a guarded IPv4 address is guarded as that address.
import { describe, expect, it } from 'vitest';
import {
  canonicalAddress,
  embeddedIPv4,
  isGuardedAddress,
  isLoopbackAddress,
  sameAddress,
} from '../../src/network/addresses.js';

describe('canonical addresses', () => {
  it.each([
    ['::ffff:0.0.0.0', '0.0.0.0'],
    ['::ffff:0:0', '0.0.0.0'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['::FFFF:7F00:0001', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
    ['::ffff:0:7f00:1', '127.0.0.1'],
    ['::ffff:0:127.0.0.1', '127.0.0.1'],
    ['::127.0.0.1', '127.0.0.1'],
    ['::7f00:1', '127.0.0.1'],
    ['64:ff9b::127.0.0.1', '127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', '169.254.169.254'],
    ['::ffff:93.184.216.34', '93.184.216.34'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:1'],
    ['2001:db8::1', '2001:db8:0:0:0:0:0:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['10.1.2.3', '10.1.2.3'],
    ['not-an-ip', null],
  ])('%s is %s', (addr, want) => {
    expect(canonicalAddress(addr)).toBe(want);
  });

  it('finds no IPv4 address in IPv6 addresses that carry none', () => {
    for (const a of [
      '::',
      '::1',
      '2001:db8::7f00:1',
      '::ffff:1:2:3',
      '64:ff9b:1::7f00:1',
      'fe80::ffff:7f00:1',
    ])
      expect(embeddedIPv4(a), a).toBeNull();
  });

  it('compares literals by what they name', () => {
    expect(sameAddress('::ffff:7f00:1', '127.0.0.1')).toBe(true);
    expect(sameAddress('::1', '0:0:0:0:0:0:0:1')).toBe(true);
    expect(sameAddress('127.0.0.1', '127.0.0.2')).toBe(false);
    expect(sameAddress('x', 'x')).toBe(false);
  });
});

describe('guarded addresses', () => {
  const guarded = [
    // the host itself: loopback and 0.0.0.0/8, which Linux connects to the host's loopback
    '127.0.0.1',
    '127.8.0.1',
    '0.0.0.0',
    '0.1.2.3',
    '::1',
    '::',
    // link-local, multicast, reserved, broadcast
    '169.254.169.254',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    'fe80::1',
    'fe80::1%eth0',
    'fec0::1',
    'ff02::1',
    // IPv4-mapped, in dotted and hex spellings
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:0.0.0.0',
    '::ffff:0:0',
    '::ffff:0:1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '::ffff:224.0.0.1',
    '::ffff:e000:1',
    '::ffff:255.255.255.255',
    '::ffff:ffff:ffff',
    '0:0:0:0:0:ffff:7f00:1',
    // IPv4-translated, IPv4-compatible and NAT64
    '::ffff:0:7f00:1',
    '::ffff:0:0:0',
    '::127.0.0.1',
    '::7f00:1',
    '::0.0.0.2',
    '::169.254.169.254',
    '64:ff9b::127.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b::0.0.0.0',
    '64:ff9b::a9fe:a9fe',
  ];
  it.each(guarded)('guards %s', (a) => {
    expect(isGuardedAddress(a)).toBe(true);
  });

  it.each([
    '93.184.216.34',
    '10.1.2.3',
    '192.168.1.1',
    '2001:db8::1',
    '::ffff:93.184.216.34',
    '64:ff9b::5db8:d822',
  ])('lets %s through', (a) => {
    expect(isGuardedAddress(a)).toBe(false);
  });

  it('calls loopback only what reaches loopback', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1'])
      expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '169.254.169.254', '10.0.0.1', 'localhost', '::ffff:10.0.0.1'])
      expect(isLoopbackAddress(a), a).toBe(false);
  });
});
