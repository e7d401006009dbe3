// The status page's live view: the calls of a session as cells (history, calls running now, shell commands seen by
// this process) and a server-sent-event stream per watcher, fed by the sessions service's call events. Read-only: it
// never runs anything, never enters a session's queue, and sends a viewer only the sessions of its own client.
import type { IncomingMessage, ServerResponse } from 'node:http';
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

  /** Opens an event stream of the session's calls: a snapshot first, then each start, output and end. */
  watch(req: IncomingMessage, res: ServerResponse, owner: string, sessionId: string): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    const w: Watcher = { owner, sessionId, res };
    // The snapshot and the subscription in one turn of the event loop: no call can start or end in between.
    res.write('retry: 1000\n\n');
    this.send(w, 'snapshot', { session_id: sessionId, ...this.cells(owner, sessionId, null) });
    this.watchers.add(w);
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    const limit = setTimeout(() => res.end(), STREAM_MAX_MS);
    const stop = () => {
      clearInterval(ping);
      clearTimeout(limit);
      this.watchers.delete(w);
    };
    req.on('close', stop);
    res.on('close', stop);
  }

  private onStart(c: CallStart): void {
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
