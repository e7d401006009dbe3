// A bounded ring buffer of an app's output lines, kept by the server so logs outlive the app and its box.
// It never grows past its line and byte limits, whatever the app prints.

export class LogRing {
  private lines: string[] = [];
  private bytes = 0;
  private partial = '';
  private total = 0;
  private readonly head: string[] = [];

  constructor(
    private readonly maxLines = 2000,
    private readonly maxBytes = 512 * 1024,
    private readonly headLines = 50,
    private readonly maxLineChars = 8192,
  ) {}

  push(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    // A line with no newline for this long is cut, so one endless line cannot grow without bound.
    if (this.partial.length > this.maxLineChars) {
      parts.push(this.partial);
      this.partial = '';
    }
    for (const p of parts) this.add(p);
  }

  private add(raw: string): void {
    const line =
      raw.length > this.maxLineChars ? raw.slice(0, this.maxLineChars) + '…' : raw.replace(/\r$/, '');
    this.total++;
    if (this.head.length < this.headLines) this.head.push(line);
    this.lines.push(line);
    this.bytes += line.length + 1;
    while (this.lines.length > this.maxLines || (this.bytes > this.maxBytes && this.lines.length > 1)) {
      this.bytes -= (this.lines.shift() ?? '').length + 1;
    }
  }

  /** The last n lines, with a line still waiting for its newline at the end. */
  tail(n: number): string[] {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return n <= 0 ? [] : all.slice(-n);
  }

  /** The first lines the app printed (kept even after the ring moved on). */
  first(n: number): string[] {
    const all = this.partial && this.head.length < this.headLines ? [...this.head, this.partial] : this.head;
    return all.slice(0, n);
  }

  get totalLines(): number {
    return this.total + (this.partial ? 1 : 0);
  }

  get kept(): number {
    return this.lines.length + (this.partial ? 1 : 0);
  }
}

/** The last Python traceback in some log lines, or null. */
export function lastTraceback(lines: string[]): string | null {
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.startsWith('Traceback (most recent call last):')) {
      start = i;
      break;
    }
  }
  if (start < 0) return null;
  let end = start + 1;
  // The traceback ends at its first unindented line after the header: the exception line.
  while (end < lines.length && /^\s/.test(lines[end]!)) end++;
  return lines.slice(start, Math.min(end + 1, lines.length)).join('\n');
}
