// The system files name lookups depend on (/etc/hosts, /etc/resolv.conf), read again whenever they change, and the
// hosts file's table. Reads are synchronous and small, so they never wait on the thread pool.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

/** Name (lower case, no trailing dot) to its addresses in file order, as the C library's "files" source gives them. */
export type HostsTable = ReadonlyMap<string, readonly string[]>;

export function parseHosts(text: string): HostsTable {
  const table = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const [addr, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || isIP(addr.split('%')[0]!) === 0) continue;
    for (const n of names) {
      const name = n.toLowerCase().replace(/\.$/, '');
      const list = table.get(name) ?? [];
      if (!list.includes(addr.toLowerCase())) list.push(addr.toLowerCase());
      table.set(name, list);
    }
  }
  return table;
}

/**
 * The parsed content of a file, read again when its identity, size or times change (checked at most every
 * `recheckMs`); `changes` counts the reads, so a caller can rebuild what it derived from the file. A missing or
 * unreadable file reads as empty.
 */
export class WatchedFile<T> {
  private signature = '';
  private checkedAt = -Infinity;
  private value: T;
  changes = 0;

  constructor(
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly recheckMs = 1000,
  ) {
    this.value = parse('');
  }

  current(now = Date.now()): T {
    if (now - this.checkedAt < this.recheckMs) return this.value;
    this.checkedAt = now;
    let signature: string;
    try {
      const st = statSync(this.path, { bigint: true });
      signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      signature = 'missing';
    }
    if (signature === this.signature) return this.value;
    this.signature = signature;
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      // missing or unreadable: no entries
    }
    this.value = this.parse(text);
    this.changes++;
    return this.value;
  }
}

/** What name lookups take from resolv.conf beyond its servers (which c-ares reads itself). */
export interface ResolvSearch {
  /** `search` (or `domain`) domains, in order; the last such line wins, as in the C library. */
  search: string[];
  /** Names with fewer dots than this are tried with the search domains first. */
  ndots: number;
}

export function parseResolvSearch(text: string): ResolvSearch {
  const out: ResolvSearch = { search: [], ndots: 1 };
  for (const raw of text.split('\n')) {
    const [key, ...values] = raw
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/);
    if (key === 'search' || key === 'domain') {
      out.search = values.map((v) => v.toLowerCase().replace(/\.$/, '')).filter((v) => v.length > 0);
    } else if (key === 'options') {
      for (const v of values) {
        const m = /^ndots:(\d+)$/.exec(v);
        if (m) out.ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return out;
}

/** The names DNS is asked for `host`, in order, as the C library's resolver tries them. */
export function searchNames(host: string, conf: ResolvSearch): string[] {
  const expanded = conf.search.map((d) => `${host}.${d}`);
  const dots = host.split('.').length - 1;
  return dots >= conf.ndots ? [host, ...expanded] : [...expanded, host];
}
