// What the idle reaper does to a session: stop its processes past --idle-ttl, close it (deleting its files) past
// --session-retention, or leave it; and how often it looks.

export type IdleAction = 'keep' | 'stop' | 'close';

export interface IdleState {
  /** Calls running or queued. */
  busy: number;
  /** ISO time of the newest use (calls, web-app traffic). */
  lastUsed: string;
  /** It has a box (processes) to stop. */
  running: boolean;
}

export interface ReapSettings {
  idleTtlS: number;
  /** 0: sessions are never closed for want of use. */
  sessionRetentionS: number;
}

export function idleAction(s: IdleState, now: number, set: ReapSettings): IdleAction {
  if (s.busy > 0) return 'keep';
  const idleMs = now - Date.parse(s.lastUsed);
  if (set.sessionRetentionS > 0 && idleMs >= set.sessionRetentionS * 1000) return 'close';
  if (s.running && idleMs >= set.idleTtlS * 1000) return 'stop';
  return 'keep';
}

/** A quarter of the shorter limit, between 1 and 60 seconds, in milliseconds. */
export function reapEveryMs(set: ReapSettings): number {
  const shortest = set.sessionRetentionS > 0 ? Math.min(set.idleTtlS, set.sessionRetentionS) : set.idleTtlS;
  return Math.min(60_000, Math.max(1000, (shortest * 1000) / 4));
}
