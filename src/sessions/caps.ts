// Ceilings and caps: a tool argument may lower a server setting but never raise it, and one client (or all of them)
// may hold only so many sessions, web apps, memory and processes; a full cap answers resource_exhausted.
import type { Config } from '../config.js';
import { SandboxError, invalidArgument } from '../errors.js';
import type { SessionRow } from '../store/sessions-repo.js';

/** One of the caps, as named in resource_exhausted's details. */
export type CapName = 'max_sessions' | 'client_memory_mb' | 'total_memory_mb' | 'total_pids' | 'max_web_apps';

const SETTING: Record<CapName, string> = {
  max_sessions: '--max-sessions',
  client_memory_mb: '--client-memory-mb',
  total_memory_mb: '--total-memory-mb',
  total_pids: '--total-pids',
  max_web_apps: '--max-web-apps',
};

const CLOSE_SESSION = 'close a session you no longer need (close_session; list_sessions shows yours)';
const STOP_APP = 'stop a web app you no longer need (stop_web_app; list_web_apps shows yours)';

/** What a session holds of the caps. */
export interface SessionHold {
  owner: string;
  memoryMb: number;
  pids: number;
}

/**
 * Refuses a tool argument above the server's setting for it: the setting is the operator's ceiling, which a client
 * may go below but never above. `argument` and `setting` name both sides in the error.
 */
export function requireWithin(
  argument: string,
  requested: number | undefined,
  ceiling: number,
  setting: string,
  unit: string,
): void {
  if (requested === undefined || !(requested > ceiling)) return;
  throw invalidArgument(
    `${argument} ${requested} ${unit} is above this server's limit of ${ceiling} ${unit} (${setting}); pass at most ${ceiling}, or omit it`,
    { argument, requested, max: ceiling, setting },
  );
}

/** install_package may run as long as the per-call limit, or the ten minutes installs default to when that is longer. */
export function requireInstallTimeout(config: Config, requested: number | undefined): void {
  const ceiling = Math.max(config.timeoutS, 600);
  requireWithin('timeout', requested, ceiling, '--timeout, and at least 600 s for installs', 's');
}

/** A stored session's limits lowered to the server's current settings (they may have been lowered since). */
export function underCeilings(row: SessionRow, config: Config): SessionRow {
  return {
    ...row,
    timeout_s: Math.min(row.timeout_s, config.timeoutS),
    memory_mb: Math.min(row.memory_mb, config.memoryMb),
    pids: Math.min(row.pids, config.pids),
  };
}

function exhausted(
  cap: CapName,
  message: string,
  details: Record<string, unknown>,
  hint: string,
): SandboxError {
  return new SandboxError('resource_exhausted', message, { cap, setting: SETTING[cap], ...details }, hint);
}

/**
 * Throws resource_exhausted when one more session holding `want` would pass a cap: the client's session count,
 * the client's memory, or the memory or processes of all clients together. `open` is every open session.
 */
export function checkSessionRoom(config: Config, open: Iterable<SessionHold>, want: SessionHold): void {
  let sessions = 0;
  let clientMb = 0;
  let totalMb = 0;
  let totalPids = 0;
  for (const s of open) {
    totalMb += s.memoryMb;
    totalPids += s.pids;
    if (s.owner !== want.owner) continue;
    sessions++;
    clientMb += s.memoryMb;
  }
  if (sessions + 1 > config.maxSessions) {
    throw exhausted(
      'max_sessions',
      `you already have ${sessions} open sessions, the most one client may have on this server`,
      { limit: config.maxSessions, in_use: sessions },
      `${CLOSE_SESSION}, then try again`,
    );
  }
  const smaller = (left: number) =>
    left >= 64 ? ` or ask for memory_mb of at most ${Math.floor(left)}` : '';
  const clientCap = config.clientMemoryMb ?? config.totalMemoryMb;
  if (clientMb + want.memoryMb > clientCap) {
    const left = clientCap - clientMb;
    throw exhausted(
      'client_memory_mb',
      `a session of ${want.memoryMb} MiB would bring your sessions to ${clientMb + want.memoryMb} MiB, above the ${clientCap} MiB one client may hold`,
      { limit: clientCap, in_use: clientMb, requested: want.memoryMb, available: Math.max(0, left) },
      `${CLOSE_SESSION}${smaller(left)}`,
    );
  }
  if (totalMb + want.memoryMb > config.totalMemoryMb) {
    const left = config.totalMemoryMb - totalMb;
    throw exhausted(
      'total_memory_mb',
      `this server's sessions already hold ${totalMb} of its ${config.totalMemoryMb} MiB; a session of ${want.memoryMb} MiB does not fit`,
      {
        limit: config.totalMemoryMb,
        in_use: totalMb,
        requested: want.memoryMb,
        available: Math.max(0, left),
      },
      `${CLOSE_SESSION}${smaller(left)}; the rest is held by other clients' sessions, and frees as they close`,
    );
  }
  if (totalPids + want.pids > config.totalPids) {
    throw exhausted(
      'total_pids',
      `this server's sessions already hold ${totalPids} of its ${config.totalPids} processes; another session of ${want.pids} does not fit`,
      { limit: config.totalPids, in_use: totalPids, requested: want.pids },
      `${CLOSE_SESSION}; the rest is held by other clients' sessions, and frees as they close`,
    );
  }
}

/** Throws resource_exhausted when the client already has as many web apps starting or running as it may. */
export function checkWebAppRoom(config: Config, running: number): void {
  if (running + 1 > config.maxWebApps) {
    throw exhausted(
      'max_web_apps',
      `you already have ${running} web apps running, the most one client may have on this server`,
      { limit: config.maxWebApps, in_use: running },
      `${STOP_APP}, or close the session that runs it (close_session), then try again`,
    );
  }
}
