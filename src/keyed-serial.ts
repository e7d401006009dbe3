// Runs tasks one at a time per key (a session's calls, a session's backups), in the order they were given; a task
// that fails or throws does not stop the ones queued after it.
export class KeyedSerial<K> {
  /** The end of each key's chain; it never rejects, and goes once the chain has run dry. */
  private readonly tails = new Map<K, Promise<void>>();

  /** Queues task behind the key's earlier tasks and answers with its own outcome. */
  run<T>(key: K, task: () => T | Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
