// The warm pool: boxes started ahead of time at the lowest CPU share, each with its own fresh id and workspace,
// handed out by create_session so the first execute does not pay for the jail and Python start. Never shares a box.
import type { Box } from '../sandbox/box.js';
import { newSessionId } from './ids.js';

export interface PooledBox {
  id: string;
  box: Box;
}

/**
 * How long after a hand-out the refill starts. A box start's own work in the server (the session folders, the cgroup,
 * the spawn: about 10 ms of the event loop) then comes after the new session's first call has usually been
 * answered, not in front of the create_session answer or that call.
 */
export const REFILL_DELAY_MS = 200;

export class WarmPool {
  private readonly ready: PooledBox[] = [];
  private starting = 0;
  private closed = false;
  private refill: NodeJS.Timeout | null = null;
  /** Starts under way: close() waits for them, so no box or folder outlives the pool. */
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly size: number,
    private readonly startBox: (id: string) => Promise<Box>,
    private readonly discard: (id: string) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * A ready box, at the CPU share every session's box has, or undefined when none is ready yet (the caller starts
   * one itself). Boxes wait (and start) at the lowest share, so the refill this schedules never slows the sessions.
   */
  take(): PooledBox | undefined {
    let item = this.ready.shift();
    while (item && !item.box.alive) {
      void this.discard(item.id).catch(this.onError);
      item = this.ready.shift();
    }
    if (item) {
      try {
        item.box.foreground();
      } catch (err) {
        this.onError(err); // it still works, only slower while other boxes are busy
      }
    }
    this.fillLater();
    return item;
  }

  private fillLater(): void {
    if (this.closed || this.refill) return;
    this.refill = setTimeout(() => {
      this.refill = null;
      this.fill();
    }, REFILL_DELAY_MS);
    this.refill.unref();
  }

  fill(): void {
    if (this.closed) return;
    while (this.ready.length + this.starting < this.size) {
      this.starting++;
      const id = newSessionId();
      const started = this.startBox(id)
        .then((box) => {
          if (this.closed) {
            return box
              .close()
              .then(() => this.discard(id))
              .catch(this.onError);
          }
          this.ready.push({ id, box });
        })
        .catch(async (err: unknown) => {
          // No retry loop here: the next take() tries again.
          this.onError(err);
          await this.discard(id).catch(this.onError);
        })
        .finally(() => {
          this.starting--;
          this.inflight.delete(started);
        });
      this.inflight.add(started);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refill) clearTimeout(this.refill);
    const items = this.ready.splice(0);
    await Promise.all([
      ...items.map(async (i) => {
        await i.box.close();
        await this.discard(i.id);
      }),
      ...this.inflight, // each sees `closed` and closes and discards its own box
    ]);
  }
}
