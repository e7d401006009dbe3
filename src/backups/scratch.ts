// Reusable read buffers, so hashing thousands of files does not allocate (and garbage-collect) a buffer per file; a buffer is never lent to two readers at once.

export class ScratchPool {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number) {}

  /** Lends a buffer for the duration of fn; anything viewing it must not outlive fn. */
  async with<T>(fn: (buf: Buffer) => Promise<T>): Promise<T> {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.size);
    try {
      return await fn(buf);
    } finally {
      this.free.push(buf);
    }
  }
}
