// A byte budget shared by the files of one copy (an export's files, a backup's files): each file takes its apparent
// size before it is read, so a budget bounds both the bytes written and the time spent reading.
export class ByteBudget {
  private used = 0;

  /** `limit` null: no limit. */
  constructor(readonly limit: number | null) {}

  /** Bytes still free (Infinity without a limit). */
  get left(): number {
    return this.limit === null ? Infinity : this.limit - this.used;
  }

  /** Takes `n` bytes when they fit; false (nothing taken) when they would pass the limit. */
  take(n: number): boolean {
    if (n > this.left) return false;
    this.used += n;
    return true;
  }

  /** Gives back bytes taken for a file that was not copied after all. */
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** A size for messages: "1.0 GiB", "50 MiB", "312 bytes". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 10 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
