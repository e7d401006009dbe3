// Small statistics and table helpers for the benchmarks.

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return {
    n: s.length,
    p50: r(percentile(s, 50)),
    p95: r(percentile(s, 95)),
    p99: r(percentile(s, 99)),
    mean: r(mean),
  };
}

export function table(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(width[i]!)).join(' | ') + ' |';
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

/** A figure and the interleaved run that measured it: a ratio is taken only between figures of one run. */
export interface Tagged {
  value: number;
  run: string;
}

export function tagged(value: number, run: string): Tagged {
  return { value, run };
}

/**
 * a / b, rounded to 2 places; refuses (throws) when the two were not measured in the same interleaved run, since on
 * a machine whose speed drifts a ratio of figures taken at different times says nothing.
 */
export function interleavedRatio(a: Tagged, b: Tagged): number {
  if (a.run !== b.run) {
    throw new Error(
      `refusing a ratio of figures from different runs (${a.run} and ${b.run}): measure them interleaved`,
    );
  }
  return Math.round((a.value / b.value) * 100) / 100;
}

/** The lowest and highest of some values (a ratio per round, say): how far repeated measurements spread. */
export function spread(values: number[]): { min: number; max: number } {
  return { min: Math.min(...values), max: Math.max(...values) };
}
