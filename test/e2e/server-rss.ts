// Watches a server process's resident memory (VmRSS) while a test attacks it: the highest seen above its start.
import { readFileSync } from 'node:fs';

/** The process's resident set in bytes, or null once it is gone. */
export function rssOf(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** Samples the process every `everyMs` until stop(): the growth of its peak over the first sample, and if it died. */
export function watchRss(pid: number, everyMs = 100): { stop(): { growth: number; died: boolean } } {
  const start = rssOf(pid) ?? 0;
  let peak = start;
  let died = false;
  const timer = setInterval(() => {
    const now = rssOf(pid);
    if (now === null) died = true;
    else peak = Math.max(peak, now);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const now = rssOf(pid);
      if (now === null) died = true;
      else peak = Math.max(peak, now);
      return { growth: peak - start, died };
    },
  };
}
