// Reusable read buffers, so hashing thousands of files does not allocate (and garbage-collect) a buffer per file; a buffer is never lent to two readers at once.

export class ScratchPool {
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;

  /** Keeps at most `maxFree` idle buffers; a buffer returned beyond that is left to the garbage collector. */
  constructor(
    readonly size: number,
    maxFree: number,
  ) {
    this.maxFree = Math.max(1, maxFree);
  }

  /** Lends a buffer for the duration of fn; anything viewing it must not outlive fn. */
  async with<T>(fn: (buf: Buffer) => Promise<T>): Promise<T> {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.size);
    try {
      return await fn(buf);
    } finally {
      if (this.free.length < this.maxFree) this.free.push(buf);
    }
  }
}
