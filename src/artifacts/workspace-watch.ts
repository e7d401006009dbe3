// Tells whether anything changed in a workspace's tracked folders since its last walk (inotify through fs.watch, one
// watch per folder), so a call that touched no file ends without walking; says "changed" whenever it cannot know.
import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';

/** Beyond this many folders the workspace is walked after every call, as without a watch. */
export const MAX_WATCHED_DIRS = 2048;

/** A folder the walk saw: its absolute path and inode (a folder replaced under the same name needs a new watch). */
export interface WalkedDir {
  path: string;
  ino: bigint;
}

interface Watched {
  ino: bigint;
  watcher: FSWatcher;
}

/** Resolves after one more pass of the event loop, so file events the OS queued before now have been read. */
export function eventsDelivered(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

export class WorkspaceWatch {
  private readonly watched = new Map<string, Watched>();
  private changed = true;
  private usable = true;

  /** True only when every folder is watched and no event came since the walk that last synced. */
  get clean(): boolean {
    return this.usable && !this.changed;
  }

  /** True only when every folder is watched and an event came since the walk that last synced. */
  get sawChange(): boolean {
    return this.usable && this.changed;
  }

  /** Call right before a walk that becomes the baseline: events from here on mean the next call must walk. */
  beforeWalk(): void {
    this.changed = false;
  }

  /** Watches exactly the folders the walk saw. A folder newly watched may have changed before its watch began,
   * so the next call walks once more. */
  sync(dirs: readonly WalkedDir[]): void {
    if (dirs.length > MAX_WATCHED_DIRS) {
      this.close();
      this.usable = false;
      this.changed = true;
      return;
    }
    const seen = new Set<string>();
    for (const d of dirs) {
      seen.add(d.path);
      const w = this.watched.get(d.path);
      if (w && w.ino === d.ino) continue;
      w?.watcher.close();
      this.watched.delete(d.path);
      this.changed = true;
      try {
        const name = basename(d.path);
        const entry: Watched = { ino: d.ino, watcher: undefined as unknown as FSWatcher };
        // The folder itself deleted or moved away shows as an event named like the folder (as does a child of that
        // name): its watch may be dead, and a new folder may reuse the inode, so it is dropped and the next walk
        // watches again.
        const drop = (): void => {
          this.changed = true;
          if (this.watched.get(d.path) === entry) {
            entry.watcher.close();
            this.watched.delete(d.path);
          }
        };
        entry.watcher = watch(d.path, { persistent: false }, (_type, filename) => {
          this.changed = true;
          if (filename === null || filename === name) drop();
        });
        entry.watcher.on('error', drop);
        this.watched.set(d.path, entry);
      } catch {
        // Out of inotify watches, or the folder vanished: walk every time until a sync succeeds.
        this.usable = false;
        this.changed = true;
        return;
      }
    }
    for (const [path, w] of this.watched) {
      if (!seen.has(path)) {
        w.watcher.close();
        this.watched.delete(path);
      }
    }
    this.usable = true;
  }

  get size(): number {
    return this.watched.size;
  }

  close(): void {
    for (const w of this.watched.values()) w.watcher.close();
    this.watched.clear();
    this.changed = true;
  }
}
