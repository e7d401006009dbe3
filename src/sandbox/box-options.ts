// The options every box starts from, whoever starts it (a session, a one-shot run beside it, a web app's smoke test):
// where the agent's files are, the isolation and the limits from the server's settings.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import type { BoxLimits, BoxOptions } from './box.js';

/** From dist/src/sandbox, src/sandbox or dist/src/bin (the bundled command), the agent's Python files are in ../agent. */
export const AGENT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'agent');

type BoxSettings = Pick<
  Config,
  'isolation' | 'bwrapPath' | 'python' | 'pids' | 'fileSizeMb' | 'openFiles' | 'cpuQuota'
>;

/** A box's limits from the server's settings: every box uses these. */
export function boxLimits(config: BoxSettings, memoryMb: number, pids = config.pids): BoxLimits {
  return {
    memoryBytes: memoryMb * 1024 * 1024,
    pids,
    fileSizeBytes: config.fileSizeMb * 1024 * 1024,
    openFiles: config.openFiles,
    cpuQuota: config.cpuQuota,
  };
}

export interface BoxBase {
  /** Names the cgroup: the session id, or a name of its own for a box beside it. */
  name: string;
  workspace: string;
  mplConfigDir: string;
  memoryMb: number;
  /** Default: the server's process limit. */
  pids?: number | undefined;
  /** Default: the server's Python (a web app's smoke test may run the session's venv). */
  python?: string | undefined;
}

/** The options a box starts with before its starter adds its own (environment, binds, network, timeouts). */
export function boxOptions(config: BoxSettings, b: BoxBase): BoxOptions {
  return {
    name: b.name,
    workspace: b.workspace,
    mplConfigDir: b.mplConfigDir,
    agentDir: AGENT_DIR,
    isolation: config.isolation,
    bwrapPath: config.bwrapPath,
    python: b.python ?? config.python,
    limits: boxLimits(config, b.memoryMb, b.pids),
  };
}
