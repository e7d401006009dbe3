// Turns a box spec into a launch: bwrap's options through a descriptor, and for a root server the box's own uid plus the binds it could not reach staged for it.
import { closeSync, lstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openBindSource } from './bind-source.js';
import { buildBwrapParts, type BoxSpec } from './bwrap-argv.js';
import { boxOwner, runtimeDir, serverIsRoot } from '../box-user.js';
import { buildLaunchCommand, type LaunchCommand, type LaunchRlimits, type StagedBind } from './launch.js';

export interface BoxLaunchInput {
  bwrapPath: string;
  spec: BoxSpec;
  cgroupProcs: string[];
  rlimits: LaunchRlimits;
  /** The inherited descriptor bwrap reads its options from (`--args FD`). */
  optionsFd: number;
}

const BIND_OPTIONS = new Set(['--bind', '--ro-bind', '--bind-try', '--ro-bind-try']);

/** Whether `uid`/`gid` may search every folder above `path` (what bwrap's realpath of a bind source needs). */
export function reachableBy(path: string, uid: number, gid: number): boolean {
  let dir = dirname(path);
  for (;;) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return false;
    }
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    if (dir === '/') return true;
    dir = dirname(dir);
  }
}

/** A mount point under the runtime folder, of the source's kind (folder or file), made once and reused by every box. */
function stageTarget(index: number, isDir: boolean): string {
  const base = join(runtimeDir(), 'stage');
  mkdirSync(base, { recursive: true, mode: 0o755 });
  const target = join(base, `${isDir ? 'd' : 'f'}${index}`);
  try {
    lstatSync(target);
  } catch {
    if (isDir) mkdirSync(target, { mode: 0o755 });
    else closeSync(openSync(target, 'a', 0o644));
  }
  return target;
}

/**
 * Rewrites bind sources the box's uid cannot reach (a data dir under /root, say) to staging mount points; the
 * launcher binds them there as root in a private mount namespace before dropping to that uid. Each source is opened
 * here one component at a time (bind-source.ts), and the launcher keeps its mount only when it holds that same
 * folder: a box that swaps a folder of the path for a link (a venv for a link to /root) gets a refusal, not a host
 * folder. (A descriptor cannot be mounted itself: it belongs to the server's mount namespace, not the launcher's.)
 */
export function stageUnreachableBinds(
  options: string[],
  uid: number,
  gid: number,
): { options: string[]; stage: StagedBind[] } {
  const out = [...options];
  const stage: StagedBind[] = [];
  for (let i = 0; i < out.length - 2; i++) {
    if (!BIND_OPTIONS.has(out[i] as string)) continue;
    const source = out[i + 1] as string;
    i += 2;
    if (reachableBy(source, uid, gid)) continue;
    const opened = openBindSource(source, uid);
    const target = stageTarget(stage.length, opened.isDirectory);
    stage.push({ source, target, identity: opened.identity });
    out[i - 1] = target;
  }
  return { options: out, stage };
}

/** The launch of one box; a root server's box runs as the box uid (box-user.ts), never as host root. */
export function planBoxLaunch(input: BoxLaunchInput): LaunchCommand {
  const parts = buildBwrapParts(input.spec);
  let options = parts.options;
  let identity: { uid: number; gid: number } | undefined;
  let stage: StagedBind[] | undefined;
  if (serverIsRoot()) {
    const owner = boxOwner();
    identity = { uid: owner.uid, gid: owner.gid };
    ({ options, stage } = stageUnreachableBinds(options, owner.uid, owner.gid));
  }
  const cmd = buildLaunchCommand({
    bwrapPath: input.bwrapPath,
    bwrapArgv: ['--args', String(input.optionsFd), '--', ...parts.command],
    cgroupProcs: input.cgroupProcs,
    rlimits: input.rlimits,
    identity,
    stage,
  });
  cmd.fds = { ...cmd.fds, [input.optionsFd]: Buffer.from(options.map((o) => `${o}\0`).join(''), 'utf8') };
  return cmd;
}
