// The URL a `sandbox-mcp serve` child prints once it listens, for the benchmarks that drive the server over HTTP.
import type { ChildProcess } from 'node:child_process';

/** Resolves with the `listening on` URL from the child's stderr; rejects when it exits or stays silent 30 s. */
export function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise<string>((res, rej) => {
    let text = '';
    const timer = setTimeout(() => rej(new Error(`server did not start: ${text}`)), 30_000);
    child.stderr?.on('data', (d: Buffer | string) => {
      text += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited ${code}: ${text}`));
    });
  });
}
