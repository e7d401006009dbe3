// The status page's live view: the calls of a session as cells (history, calls running now, shell commands seen by
// this process) and a server-sent-event stream per watcher, fed by the sessions service's call events. Read-only: it
// never runs anything, never enters a session's queue, and sends a viewer only the sessions of its own client.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SandboxError, toErrorBody } from '../errors.js';
import type { CallEnd, CallOutput, CallStart } from '../sessions/events.js';
import { appendOutput, cellFromRow, endedCell, liveKey, runningCell, type Cell } from './live-view-cells.js';
import type { Services } from './services.js';
import type { StatusStore } from './status-store.js';

/** Cells per page of history. */
export const CELLS_PER_PAGE = 30;
/** Finished calls with no history row (shell commands, calls whose box failed) kept per session. */
const EXTRA_KEEP = 100;
/** A stream is closed after this long; the browser reconnects, and the sign-in is checked again. */
const STREAM_MAX_MS = 5 * 60_000;
const PING_MS = 20_000;
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
/** Streams one client may have open (a browser tab each); a new one past it closes the client's oldest. */
export const WATCHERS_PER_CLIENT = 8;
/** Streams of all clients together; past it a new one is refused until one closes. */
export const WATCHERS_MAX = 64;
/** A snapshot a viewer has not read this long after it was sent ends its stream: the browser reconnects. */
const SNAPSHOT_READ_MS = 10_000;
/** How long a snapshot built for one viewer serves the next ones of the session, when nothing started or ended. */
const SNAPSHOT_KEEP_MS = 2_000;
/** What may stay buffered for a viewer that reads (the events since its snapshot). */
const UNREAD_SLACK_BYTES = 256 * 1024;

interface Running {
  owner: string;
  sessionId: string;
  cell: Cell;
  /** performance.now() at the start, for the elapsed time of a snapshot. */
  t0: number;
}

interface Watcher {
  owner: string;
  sessionId: string;
  res: ServerResponse;
}

export class LiveView {
  private readonly running = new Map<number, Running>();
  private readonly extra = new Map<string, Cell[]>();
  private readonly watchers = new Set<Watcher>();
  /** The snapshot frame of each watched session with no call running, until a call starts or ends there. */
  private readonly snapshots = new Map<string, { text: string; at: number }>();

  constructor(
    private readonly services: Services,
    private readonly store: StatusStore,
  ) {
    const calls = services.sessions.calls;
    calls.on('start', (c) => this.onStart(c));
    calls.on('output', (c) => this.onOutput(c));
    calls.on('end', (c) => this.onEnd(c));
    services.sessions.events.on('closed', (id) => {
      this.extra.delete(id);
      this.snapshots.delete(id);
      for (const w of this.watchers) if (w.sessionId === id) this.send(w, 'closed', { session_id: id });
    });
  }

  /**
   * The session's cells, oldest first: the newest page of history below `before` (a history number), and with the
   * newest page also the calls running now and the finished calls the history does not hold.
   */
  cells(owner: string, sessionId: string, before: number | null): { cells: Cell[]; more: boolean } {
    const rows = this.store.history(sessionId, before, CELLS_PER_PAGE + 1);
    const more = rows.length > CELLS_PER_PAGE;
    const cells = rows.slice(more ? 1 : 0).map(cellFromRow);
    if (before !== null) return { cells, more };
    const oldest = cells[0]?.started_at ?? '';
    const live = [...(this.extra.get(sessionId) ?? [])].filter((c) => !more || c.started_at >= oldest);
    for (const r of this.running.values()) {
      if (r.sessionId === sessionId && r.owner === owner)
        live.push({ ...r.cell, elapsed_ms: Math.round(performance.now() - r.t0) });
    }
    const byKey = new Map<string, Cell>();
    for (const c of [...cells, ...live]) byKey.set(c.key, c);
    const all = [...byKey.values()].sort((a, b) => a.started_at.localeCompare(b.started_at));
    return { cells: all, more };
  }

  /**
   * Opens an event stream of the session's calls: a snapshot first, then each start, output and end. A client keeps
   * at most WATCHERS_PER_CLIENT streams (its oldest gives way) and all of them WATCHERS_MAX; a viewer that does not
   * read its snapshot, or lets MAX_BACKLOG_BYTES pile up, loses its stream, so unread streams hold little memory.
   */
  watch(req: IncomingMessage, res: ServerResponse, owner: string, sessionId: string): void {
    const mine = [...this.watchers].filter((w) => w.owner === owner);
    if (mine.length >= WATCHERS_PER_CLIENT) {
      for (const old of mine.slice(0, mine.length - WATCHERS_PER_CLIENT + 1)) {
        this.watchers.delete(old);
        old.res.destroy();
      }
    } else if (this.watchers.size >= WATCHERS_MAX) {
      const error = new SandboxError(
        'resource_exhausted',
        `the status page serves at most ${WATCHERS_MAX} live views at once`,
        { limit: WATCHERS_MAX, in_use: this.watchers.size },
        'close status page tabs you no longer watch, then reload',
      );
      const text = JSON.stringify({ error: toErrorBody(error) });
      res.writeHead(503, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(text),
        'Retry-After': '10',
      });
      res.end(text);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    const w: Watcher = { owner, sessionId, res };
    // The snapshot and the subscription in one turn of the event loop: no call can start or end in between.
    res.write('retry: 1000\n\n');
    res.write(this.snapshot(owner, sessionId));
    if (res.writableLength > MAX_BACKLOG_BYTES) {
      res.destroy();
      return;
    }
    this.watchers.add(w);
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    const limit = setTimeout(() => res.end(), STREAM_MAX_MS);
    // Most of a large snapshot still buffered at the deadline: the viewer reads nothing.
    const unread =
      res.writableLength > UNREAD_SLACK_BYTES
        ? setTimeout(() => res.writableLength > UNREAD_SLACK_BYTES && res.destroy(), SNAPSHOT_READ_MS)
        : undefined;
    const stop = () => {
      clearInterval(ping);
      clearTimeout(limit);
      clearTimeout(unread);
      this.watchers.delete(w);
      if (![...this.watchers].some((o) => o.sessionId === sessionId)) this.snapshots.delete(sessionId);
    };
    req.on('close', stop);
    res.on('close', stop);
  }

  /**
   * The snapshot frame: built once for all the viewers that open while nothing changes in the session (a page reload,
   * tabs), at most SNAPSHOT_KEEP_MS old, never kept while a call runs there (its elapsed time moves).
   */
  private snapshot(owner: string, sessionId: string): string {
    const kept = this.snapshots.get(sessionId);
    if (kept && performance.now() - kept.at < SNAPSHOT_KEEP_MS) return kept.text;
    const text = frame('snapshot', { session_id: sessionId, ...this.cells(owner, sessionId, null) });
    const running = [...this.running.values()].some((r) => r.sessionId === sessionId);
    if (running) this.snapshots.delete(sessionId);
    else this.snapshots.set(sessionId, { text, at: performance.now() });
    return text;
  }

  private onStart(c: CallStart): void {
    this.snapshots.delete(c.sessionId);
    const cell = runningCell(liveKey(c.id), c.kind, c.code, c.startedAt);
    this.running.set(c.id, { owner: c.owner, sessionId: c.sessionId, cell, t0: performance.now() });
    this.broadcast(c.owner, c.sessionId, 'start', { ...cell, elapsed_ms: 0 });
  }

  private onOutput(c: CallOutput): void {
    const r = this.running.get(c.id);
    if (!r) return;
    appendOutput(r.cell, c.text);
    this.broadcast(c.owner, c.sessionId, 'output', {
      key: r.cell.key,
      text: c.text,
      elapsed_ms: Math.round(c.elapsedMs),
    });
  }

  private onEnd(c: CallEnd): void {
    const r = this.running.get(c.id);
    if (!r) return;
    this.running.delete(c.id);
    this.snapshots.delete(c.sessionId);
    // Python calls that returned a result have their history row; the others are kept here.
    const kept = c.kind === 'shell' || c.result === null;
    // With no viewer, a cell that is not kept is never built.
    if (!kept && this.watchers.size === 0) return;
    const cell = endedCell(r.cell, c.result, c.error, c.durationMs);
    if (kept) {
      const list = this.extra.get(c.sessionId) ?? [];
      list.push(cell);
      if (list.length > EXTRA_KEEP) list.splice(0, list.length - EXTRA_KEEP);
      if (this.services.sessions.ownerOf(c.sessionId) !== null) this.extra.set(c.sessionId, list);
    }
    this.broadcast(c.owner, c.sessionId, 'end', cell);
  }

  private broadcast(owner: string, sessionId: string, event: string, data: unknown): void {
    if (this.watchers.size === 0) return;
    let text: string | null = null;
    for (const w of this.watchers) {
      if (w.owner !== owner || w.sessionId !== sessionId) continue;
      text ??= frame(event, data);
      // A viewer that reads nothing is dropped before its backlog grows: it reconnects and gets a snapshot.
      if (w.res.writableLength > MAX_BACKLOG_BYTES) w.res.destroy();
      else w.res.write(text);
    }
  }

  private send(w: Watcher, event: string, data: unknown): void {
    w.res.write(frame(event, data));
  }
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so the data is one line.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
