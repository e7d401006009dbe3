// A window on several lists read one after the other, as if they were one: each list's part of it, its whole count
// and how many entries the window left out. Every bounded list of a result is cut here (server/bounded-lists.ts).

export type Lists = Record<string, readonly unknown[]>;

export interface ListWindow<L extends Lists> {
  /** Each list cut to the window: the entries from `offset` to `offset + limit` of the lists one after the other. */
  lists: { [K in keyof L]: L[K][number][] };
  counts: { [K in keyof L]: number };
  /** Entries of all the lists not in the window (before it and after it). */
  omitted: number;
  /** Entries of all the lists. */
  total: number;
}

/** The entries `offset` to `offset + limit` of `lists` taken in their key order, as if they were one list. */
export function listWindow<L extends Lists>(lists: L, offset: number, limit: number): ListWindow<L> {
  const out: Record<string, unknown[]> = {};
  const counts: Record<string, number> = {};
  let start = 0;
  let shown = 0;
  for (const [key, list] of Object.entries(lists)) {
    counts[key] = list.length;
    const from = Math.min(list.length, Math.max(0, offset - start));
    const to = Math.min(list.length, Math.max(from, offset + limit - start));
    out[key] = list.slice(from, to);
    shown += to - from;
    start += list.length;
  }
  return {
    lists: out as ListWindow<L>['lists'],
    counts: counts as ListWindow<L>['counts'],
    omitted: start - shown,
    total: start,
  };
}

/**
 * The first `max` entries of `lists`, for a result that cannot be asked again for a page: `more` says where the
 * rest is (`rest` tells it from what was cut), null when nothing was left out.
 */
export function firstEntries<L extends Lists>(
  lists: L,
  max: number,
  rest: (cut: ListWindow<L>) => string,
): ListWindow<L> & { more: string | null } {
  const w = listWindow(lists, 0, max);
  return { ...w, more: w.omitted ? rest(w) : null };
}
