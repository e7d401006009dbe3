// Runs one Python program in a throwaway box beside a session's own: same workspace and limits, its own network
// settings and binds, and no effect on the session's Python state. It never runs anything outside a box.
import type { Config } from '../config.js';
import { startBox } from '../sandbox/docker/backend.js';
import type { FinalStatus } from '../sandbox/protocol.js';
import { boxOptions } from '../sandbox/box-options.js';
import type { SessionHandle } from '../sessions/service.js';
import { relayRequest } from '../sessions/run-in-box.js';
import { sessionPaths } from '../sessions/paths.js';

export interface OneShotParams {
  session: SessionHandle;
  label: string;
  python: string;
  code: string;
  timeoutMs: number;
  outputCap: number;
  env?: Record<string, string>;
  roBinds?: Array<{ host: string; box: string }>;
  signal?: AbortSignal | undefined;
  onOutput?: ((text: string) => void) | undefined;
}

export interface OneShotResult {
  status: FinalStatus;
  /** Everything the program wrote to stdout and stderr, in order, up to outputCap per stream. */
  output: string;
  stdout: string;
}

let counter = 0;

export async function runOneShot(config: Config, p: OneShotParams): Promise<OneShotResult> {
  const paths = sessionPaths(config.dataDir, p.session.sessionId);
  const box = await startBox(config, {
    ...boxOptions(config, {
      // Its own cgroup name, so it never collides with the session's box.
      name: `${p.session.sessionId}.${p.label}.${++counter}`,
      workspace: paths.workspace,
      mplConfigDir: paths.mplConfigDir,
      python: p.python,
      memoryMb: p.session.row.memory_mb,
      pids: p.session.row.pids,
    }),
    network: 'none',
    ...(p.env ? { env: p.env } : {}),
    ...(p.roBinds?.length ? { extraRoBinds: p.roBinds } : {}),
  });
  let output = '';
  let stdout = '';
  try {
    const final = await relayRequest(
      box,
      {
        op: 'execute',
        code: p.code,
        timeout_ms: p.timeoutMs,
        grace_ms: config.graceMs,
        output_cap: p.outputCap,
        execution_count: 1,
      },
      {
        timeoutMs: p.timeoutMs,
        graceMs: config.graceMs,
        signal: p.signal,
        onStream: (ev) => {
          output += ev.text;
          if (ev.name === 'stdout') stdout += ev.text;
          p.onOutput?.(ev.text);
        },
      },
    ).done;
    return { status: final.status, output, stdout };
  } finally {
    await box.close();
  }
}
