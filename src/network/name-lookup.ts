// Looks names up as the system does ("files dns": /etc/hosts first, then the name servers of /etc/resolv.conf), but
// never on libuv's thread pool: DNS goes through c-ares on the event loop, with a timeout and a bounded number of tries.
import { Resolver } from 'node:dns/promises';
import { parseHosts, parseResolvSearch, searchNames, WatchedFile } from './etc-files.js';
import { lookupTimeout } from './lookup-gate.js';
import type { Lookup } from './target.js';

/** c-ares waits this long for a name server's answer before it asks again... */
const DNS_TRY_TIMEOUT_MS = 2000;
/** ...this many times per server; with one server a name that is never answered fails after about 5 s. */
const DNS_TRIES = 2;
/** The longest a proxy's client waits for a name, a turn behind the proxy's other lookups included. */
export const LOOKUP_TIMEOUT_MS = 6000;

const hostsFile = new WatchedFile('/etc/hosts', parseHosts);
// c-ares reads resolv.conf when a resolver is made: a new one is made when the file changes.
const resolvConf = new WatchedFile('/etc/resolv.conf', parseResolvSearch);
let resolver: { made: number; r: Resolver } | null = null;

function currentResolver(): Resolver {
  resolvConf.current();
  if (resolver?.made !== resolvConf.changes) {
    resolver = {
      made: resolvConf.changes,
      r: new Resolver({ timeout: DNS_TRY_TIMEOUT_MS, tries: DNS_TRIES }),
    };
  }
  return resolver.r;
}

// When neither query gives an address, the most telling failure is reported.
const FAILURE_ORDER = ['ENOTFOUND', 'ETIMEOUT', 'ESERVFAIL', 'ECONNREFUSED', 'EREFUSED'];
const rank = (err: unknown) => {
  const i = FAILURE_ORDER.indexOf(String((err as { code?: unknown }).code));
  return i < 0 ? FAILURE_ORDER.length : i;
};

/** A and AAAA answers of one name, IPv4 first; rejects with the most telling failure when neither has an address. */
async function askDns(r: Resolver, name: string): Promise<string[]> {
  const answers = await Promise.allSettled([r.resolve4(name), r.resolve6(name)]);
  const addresses = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
  if (addresses.length > 0) return addresses;
  const failures = answers.flatMap((a) => (a.status === 'rejected' ? [a.reason as unknown] : []));
  throw (
    failures.sort((x, y) => rank(x) - rank(y))[0] ??
    Object.assign(new Error('no address'), { code: 'ENODATA' })
  );
}

/**
 * The addresses of `host` (a normalized name): the hosts file's in its order, else DNS's for the first of the names
 * the search domains make of it that has any. A name server that does not answer in time ends the lookup.
 */
export const systemLookup: Lookup = async (host) => {
  const listed = hostsFile.current().get(host);
  if (listed?.length) return [...listed];
  const r = currentResolver();
  const started = Date.now();
  let failure: unknown;
  for (const name of searchNames(host, resolvConf.current())) {
    try {
      return await askDns(r, name);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ETIMEOUT') throw lookupTimeout(Date.now() - started);
      if (name === host || failure === undefined) failure = err;
    }
  }
  throw failure as Error;
};
