// Builds (purely) the tiny /bin/sh launcher that joins the box cgroups, stages binds, sets rlimits and drops to the box's uid before exec'ing bwrap, and runs one-shot launches; it must never interpolate a path or argument into the script text.
import { spawn } from 'node:child_process';
import { invalidArgument } from '../errors.js';

export interface LaunchRlimits {
  /** RLIMIT_FSIZE; rounded down to 512-byte blocks, Infinity for none. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
}

export interface LaunchOptions {
  bwrapPath: string;
  bwrapArgv: string[];
  cgroupProcs: string[];
  rlimits: LaunchRlimits;
  /** The host identity bwrap runs as (a root server's box uid); absent: the server's own. */
  identity?: { uid: number; gid: number } | undefined;
  /** Bind mounts made as root in a private mount namespace before the identity changes (see launch-plan.ts). */
  stage?: StagedBind[] | undefined;
}

/**
 * A bind made by the launcher: `source` onto `target`, kept only when the mounted folder is the very one the server
 * checked (`identity`, "dev:ino" of a descriptor it opened without following any link the box could have made).
 */
export interface StagedBind {
  source: string;
  target: string;
  identity: string;
}

export interface LaunchCommand {
  file: string;
  args: string[];
  /** Data for inherited descriptors (index → bytes), written into pipes by the spawner. */
  fds?: Record<number, Buffer>;
}

/** Exit status of the launcher when it could not set up the box (bwrap itself uses 1, python 1 or 120). */
export const LAUNCH_FAILURE_EXIT = 125;

// POSIX specifies ulimit -f in 512-byte blocks, and dash, bash-as-sh and busybox ash follow it. Without -H/-S each
// sets soft and hard together, so the box cannot raise them back.
// The cgroup join happens first, so bwrap, its pid-1 reaper and everything they fork are accounted from the start.
// Staged binds are made while still root (inside the private mount namespace `unshare` made) and kept only when the
// mounted folder is the one the server checked (same dev:ino), then setpriv drops to the box's uid: bwrap and
// everything in the box run as that uid, never as host root.
const SCRIPT = [
  'fsize=$1 nofile=$2 n=$3 m=$4 who=$5',
  'shift 5',
  'while [ "$n" -gt 0 ]; do',
  `  echo $$ > "$1" || { echo "sandbox-launch: cannot join cgroup $1" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  '  shift',
  '  n=$((n - 1))',
  'done',
  'while [ "$m" -gt 0 ]; do',
  `  mount -n --bind "$1" "$2" || { echo "sandbox-launch: cannot stage a bind" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  // the name was looked up again by mount: a box that swapped it for a link since the check gets no host folder
  `  [ "$(stat -L -c %d:%i -- "$2")" = "$3" ] || { echo "sandbox-launch: a bind source changed before it was mounted" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  '  shift 3',
  '  m=$((m - 1))',
  'done',
  `ulimit -f "$fsize" || { echo "sandbox-launch: cannot set RLIMIT_FSIZE" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  `ulimit -n "$nofile" || { echo "sandbox-launch: cannot set RLIMIT_NOFILE" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  'unset PWD OLDPWD',
  'if [ "$who" = - ]; then exec "$@"; fi',
  `command -v setpriv >/dev/null || { echo "sandbox-launch: setpriv (util-linux) is needed to run boxes as uid \${who%:*}" >&2; exit ${LAUNCH_FAILURE_EXIT}; }`,
  'exec setpriv --reuid="${who%:*}" --regid="${who#*:}" --clear-groups -- "$@"',
].join('\n');

function limitArg(name: string, value: number, unit: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'unlimited';
  if (!Number.isSafeInteger(value) || value < unit) {
    throw invalidArgument(`${name} must be an integer of at least ${unit}, or Infinity`, { [name]: value });
  }
  return String(Math.floor(value / unit));
}

/** The spawn arguments of the launcher; bwrap's path and argv, and the cgroup paths, travel as positional parameters. */
export function buildLaunchCommand(opts: LaunchOptions): LaunchCommand {
  const fsize = limitArg('fileSizeBytes', opts.rlimits.fileSizeBytes, 512);
  const nofile = limitArg('openFiles', opts.rlimits.openFiles, 1);
  if (opts.bwrapPath === '') throw invalidArgument('bwrapPath must not be empty');
  const id = opts.identity;
  if (id && !(Number.isSafeInteger(id.uid) && id.uid > 0 && Number.isSafeInteger(id.gid) && id.gid > 0)) {
    throw invalidArgument('the box identity must be a uid and gid above 0', { identity: id });
  }
  const stage = opts.stage ?? [];
  const shArgs = [
    '-c',
    SCRIPT,
    'sandbox-launch',
    fsize,
    nofile,
    String(opts.cgroupProcs.length),
    String(stage.length),
    id ? `${id.uid}:${id.gid}` : '-',
    ...opts.cgroupProcs,
    ...stage.flatMap((s) => [s.source, s.target, s.identity]),
    opts.bwrapPath,
    ...opts.bwrapArgv,
  ];
  if (stage.length === 0) return { file: '/bin/sh', args: shArgs };
  // a private mount namespace: the staged binds never show on the host, and vanish with the box
  return { file: 'unshare', args: ['--mount', '--propagation', 'private', '--', '/bin/sh', ...shArgs] };
}

export interface LaunchResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunLaunchOptions {
  /** Handed to the child as fd 3, for bwrap's `--seccomp 3`. */
  seccompProgram?: Buffer;
  stdin?: string;
  timeoutMs?: number;
  /** Stop collecting output beyond this many bytes per stream, so a runaway box cannot exhaust the server. */
  maxOutputBytes?: number;
  /** The launcher's own environment; bwrap --clearenv keeps it out of the box. Defaults to a bare PATH. */
  env?: NodeJS.ProcessEnv;
}

/** The launcher's environment and working folder: nothing of the server's (no PWD naming a host path). */
export const LAUNCH_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
export const LAUNCH_CWD = '/';

/** The stdio array for a launch: pipes for stdio, then a pipe for every descriptor index up to the highest used. */
export function launchStdio(cmd: LaunchCommand, base: Array<'pipe' | 'ignore'>): Array<'pipe' | 'ignore'> {
  const stdio = [...base];
  for (const key of Object.keys(cmd.fds ?? {})) {
    const fd = Number(key);
    while (stdio.length <= fd) stdio.push('ignore');
    stdio[fd] = 'pipe';
  }
  return stdio;
}

/** Writes each descriptor's data into its pipe and closes it; a launcher that died early must not raise EPIPE. */
export function feedLaunchFds(cmd: LaunchCommand, stdio: ReadonlyArray<unknown>): void {
  for (const [key, data] of Object.entries(cmd.fds ?? {})) {
    const stream = stdio[Number(key)] as NodeJS.WritableStream | null | undefined;
    if (!stream || !('end' in stream)) continue;
    stream.on('error', () => undefined);
    stream.end(data);
  }
}

/** Runs a launch command to completion and collects its output; for one-shot jails (doctor checks, tests). */
export function runLaunchCommand(cmd: LaunchCommand, opts: RunLaunchOptions = {}): Promise<LaunchResult> {
  const maxOutput = opts.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const base: Array<'pipe' | 'ignore'> = opts.seccompProgram
      ? ['pipe', 'pipe', 'pipe', 'pipe']
      : ['pipe', 'pipe', 'pipe'];
    const child = spawn(cmd.file, cmd.args, {
      // bwrap --clearenv rebuilds the box's environment; the launcher itself needs nothing of ours
      env: opts.env ?? LAUNCH_ENV,
      cwd: LAUNCH_CWD,
      stdio: launchStdio(cmd, base),
    });
    feedLaunchFds(cmd, child.stdio);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (into: Buffer[]) => {
      let size = 0;
      return (chunk: Buffer) => {
        if (size >= maxOutput) return;
        size += chunk.length;
        into.push(chunk);
      };
    };
    child.stdout?.on('data', collect(out));
    child.stderr?.on('data', collect(err));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    const fd3 = child.stdio[3];
    if (opts.seccompProgram && fd3 && 'end' in fd3) {
      // bwrap may exit before reading it (e.g. a bad argv); that EPIPE is not our error to report
      fd3.on('error', () => undefined);
      fd3.end(opts.seccompProgram);
    }
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}
