// Runs the real server with its own /etc/hosts and /etc/resolv.conf (a private mount namespace), and a test DNS server on loopback.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStdio, type Harness, type StartOptions } from './harness.js';

/** The server process sees `hosts` and `resolv` as /etc/hosts and /etc/resolv.conf; nothing else changes. */
export async function startWithEtc(
  files: { hosts: string; resolv: string },
  opts: StartOptions = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'net-etc-'));
  writeFileSync(join(dir, 'hosts'), files.hosts);
  writeFileSync(join(dir, 'resolv.conf'), files.resolv);
  const h = await startStdio({
    ...opts,
    wrapper: [
      '/usr/bin/unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      'mount --bind "$0/hosts" /etc/hosts && mount --bind "$0/resolv.conf" /etc/resolv.conf && exec "$@"',
      dir,
    ],
  });
  return {
    ...h,
    close: async (o) => {
      await h.close(o);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A name server on a loopback address of its own (UDP and TCP); TCP connections are held and never answered. */
export interface TestDns {
  address: string;
  /** Queries received so far. */
  queries(): number;
  close(): Promise<void>;
}

export interface DnsTable {
  /** Name (lower case) to its addresses: IPv4 ones answer A queries, IPv6 ones AAAA queries. */
  answers?: Record<string, string[]>;
  /** Names never answered; every other name not in `answers` gets NXDOMAIN. */
  silent?: (name: string) => boolean;
}

/** The 16 bytes of an IPv6 address, dotted tail included; written here so the test does not lean on the product's parser. */
function ipv6Bytes(addr: string): Buffer {
  const text = addr.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_, a: string, b: string, c: string, d: string) =>
      `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [l = '', r] = text.split('::');
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The answer to one query packet, or null to stay silent. */
function answer(query: Buffer, table: DnsTable): Buffer | null {
  let at = 12;
  const labels: string[] = [];
  while (query[at]) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString('latin1'));
    at += query[at]! + 1;
  }
  const questionEnd = at + 5;
  const qtype = query.readUInt16BE(at + 1);
  const name = labels.join('.').toLowerCase();
  const known = table.answers?.[name];
  if (!known && table.silent?.(name)) return null;
  const records = (known ?? [])
    .filter((a) => isIP(a) === (qtype === 28 ? 6 : qtype === 1 ? 4 : 0))
    .map((a) => (isIP(a) === 4 ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a)));
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // a response, recursion available; NXDOMAIN when unknown
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const rrs = records.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name of the question
    rr.writeUInt16BE(qtype, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...rrs]);
}

export async function startDns(table: DnsTable): Promise<TestDns> {
  for (let attempt = 0; ; attempt++) {
    const address = `127.53.${1 + Math.floor(Math.random() * 254)}.${1 + Math.floor(Math.random() * 254)}`;
    const udp: UdpSocket = createSocket('udp4');
    const tcp: Server = createServer();
    const held = new Set<Socket>();
    let count = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(53, address, () => resolve());
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(53, address, () => resolve());
      });
    } catch (err) {
      udp.close();
      tcp.close();
      if (attempt < 5) continue;
      throw err;
    }
    udp.on('message', (msg, from) => {
      count++;
      const reply = answer(msg, table);
      if (reply) udp.send(reply, from.port, from.address);
    });
    tcp.on('connection', (s) => {
      held.add(s);
      s.on('error', () => {});
      s.once('close', () => held.delete(s));
    });
    return {
      address,
      queries: () => count,
      close: async () => {
        for (const s of held) s.destroy();
        udp.close();
        await new Promise<void>((r) => tcp.close(() => r()));
      },
    };
  }
}
