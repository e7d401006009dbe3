// Bounds the name lookups of one proxy: at most `limit` run at once (the others wait their turn), and each caller
// gets an answer or an ETIMEOUT error within `timeoutMs`, its wait included. A slot is held until the lookup itself
// settles, so lookups given up on still count.
import type { Lookup } from './target.js';

/** The error of a lookup that got no answer in time; decideTarget turns it into a 504. */
export function lookupTimeout(timeoutMs: number): Error {
  return Object.assign(new Error(`no answer within ${(timeoutMs / 1000).toFixed(1)} s`), {
    code: 'ETIMEOUT',
  });
}

export function gatedLookup(lookup: Lookup, limit: number, timeoutMs: number): Lookup {
  let active = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    active--;
    const next = waiting.shift();
    if (next) next();
  };
  return (host) =>
    new Promise<string[]>((resolve, reject) => {
      let settled = false;
      const run = () => {
        active++;
        Promise.resolve()
          .then(() => lookup(host))
          .then(
            (addresses) => finish(() => resolve(addresses)),
            (err: unknown) => finish(() => reject(err as Error)),
          )
          .finally(release);
      };
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const timer = setTimeout(() => {
        const queued = waiting.indexOf(run);
        if (queued >= 0) waiting.splice(queued, 1);
        finish(() => reject(lookupTimeout(timeoutMs)));
      }, timeoutMs);
      if (active < limit) run();
      else waiting.push(run);
    });
}
