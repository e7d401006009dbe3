// `sandbox-mcp doctor`: finds out, by actually jailing a probe, which protections this machine enforces and by which mechanism; it must never report a protection as enforced without having seen it hold, nor leave probes or cgroups behind.
import {
  accessSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { BOX_AGENT_DIR, probeHostLayout, type BindMount, type HostLayout } from './bwrap-argv.js';
import { boxOwner, serverIsRoot } from '../box-user.js';
import { ensureBoxOwnership } from './box-ownership.js';
import { BoxCgroup, cgroupSupport, cpuSupport, type CgroupSupport, type CpuSupport } from './cgroups.js';
import { runLaunchCommand, type LaunchCommand, type LaunchResult } from './launch.js';
import { planBoxLaunch } from './launch-plan.js';
import {
  DENIED_SYSCALLS,
  hostSeccompArch,
  seccompProgram,
  seccompSupported,
  type SeccompSupport,
} from './seccomp.js';
import { memoryEnforcedBy, pidsEnforcedBy } from './limit-stand-ins.js';

export type ProtectionName =
  | 'namespaces'
  | 'network_off'
  | 'memory_limit'
  | 'pids_limit'
  | 'file_size_limit'
  | 'open_files_limit'
  | 'seccomp'
  | 'filesystem'
  | 'host_identity'
  | 'proc_protected'
  | 'no_host_paths'
  | 'no_setuid';

export const PROTECTIONS: readonly ProtectionName[] = [
  'namespaces',
  'network_off',
  'memory_limit',
  'pids_limit',
  'file_size_limit',
  'open_files_limit',
  'seccomp',
  'filesystem',
  'host_identity',
  'proc_protected',
  'no_host_paths',
  'no_setuid',
];

export interface ProtectionStatus {
  name: ProtectionName;
  enforced: boolean;
  mechanism: string;
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  bwrap: { path: string | null; version: string | null };
  python: string;
  cgroup: CgroupSupport;
  /** Whether each box gets a CPU share of its own (not a protection row: a missing one slows, it does not expose). */
  cpu?: CpuSupport;
  seccomp: SeccompSupport;
  protections: ProtectionStatus[];
  allEnforced: boolean;
  notes: string[];
}

export interface DoctorOptions {
  bwrapPath?: string;
  python: string;
  /** The agent's folder (it holds doctor_probe.py), bound read-only into the probe's box. */
  agentDir: string;
}

// The limits the probe runs under: small, so the checks are quick and cannot hurt the host.
const PROBE_MEMORY_BYTES = 128 * 1024 * 1024;
const PROBE_PIDS = 64;
const PROBE_FILE_SIZE_BYTES = 1024 * 1024;
const PROBE_OPEN_FILES = 64;
// Without a pids limit the fork probe stops here on its own.
const FORK_PROBE_CAP = 200;
const PTRACE_NR = { x86_64: 101, aarch64: 117 } as const;

const INSTALL_BWRAP = 'apt-get install bubblewrap (or your distribution\'s "bubblewrap" package)';

function findBwrap(explicit: string | undefined): string | null {
  const candidates =
    explicit !== undefined
      ? [explicit]
      : [...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'bwrap')), '/usr/bin/bwrap'];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  return null;
}

function hostNamespace(name: string): string | null {
  try {
    return readlinkSync(`/proc/self/ns/${name}`);
  } catch {
    return null;
  }
}

// The jailed checks and the memory allocation are scripts in the agent dir (bound read-only into the box as it is for
// sessions): doctor_probe.py reports what it sees as one JSON line; its inputs arrive as argv, never as code.
const PROBE_PY = `${BOX_AGENT_DIR}/doctor_probe.py`;
const MEMORY_PY = `${BOX_AGENT_DIR}/doctor_memory.py`;

interface ProbeOutput {
  ns: Record<string, string>;
  pid: number;
  uid: number;
  hostname: string;
  connect: string;
  interfaces: string[];
  shadow: string;
  home_entries: string[] | string;
  root_write: string;
  fsize_limit: [number, number];
  fsize_write: string;
  fsize_written: number;
  nofile_limit: [number, number];
  nofile_open: string;
  nofile_max_fd: number;
  ptrace: string;
  seccomp_mode: string | null;
  fork_error: string | null;
  forked: number;
  owner_probe: string;
  proc_writes: Record<string, string>;
  proc_reads: Record<string, string>;
  host_path_leaks: string[];
  setuid: { chmod: string; create: string };
}

function parseProbe(result: LaunchResult): ProbeOutput | null {
  const line = result.stdout.trim().split('\n').pop();
  if (!line) return null;
  try {
    return JSON.parse(line) as ProbeOutput;
  } catch {
    return null;
  }
}

function notEnforcedEverywhere(mechanism: string, detail: string, fix: string): ProtectionStatus[] {
  return PROTECTIONS.map((name) => ({ name, enforced: false, mechanism, detail, fix }));
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
    });
  });
}

function bwrapVersion(path: string): Promise<string | null> {
  return runLaunchCommand({ file: path, args: ['--version'] }, { timeoutMs: 5000 })
    .then((r) => (r.code === 0 ? r.stdout.trim() : null))
    .catch(() => null);
}

/** A python outside /usr needs its installation prefix bound into the box (read-only, at the same path). */
function pythonBinds(python: string): BindMount[] {
  let real: string;
  try {
    real = realpathSync(python);
  } catch {
    return [];
  }
  if (real.startsWith('/usr/')) return [];
  const prefix = dirname(dirname(real));
  return prefix === '/' ? [] : [{ host: prefix, box: prefix }];
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const cgroup = cgroupSupport();
  const cpu = cpuSupport();
  const seccomp = seccompSupported();
  const notes: string[] = [];
  const bwrap = findBwrap(opts.bwrapPath);
  const report = (protections: ProtectionStatus[], version: string | null): DoctorReport => ({
    bwrap: { path: bwrap, version },
    python: opts.python,
    cgroup,
    cpu,
    seccomp,
    protections,
    allEnforced: protections.every((p) => p.enforced),
    notes,
  });

  if (bwrap === null) {
    notes.push(
      'Without bubblewrap the server refuses to run code unless started with --isolation none, which runs code unconfined on this machine.',
    );
    return report(
      notEnforcedEverywhere(
        'none',
        `bubblewrap not found${opts.bwrapPath ? ` at ${opts.bwrapPath}` : ' on PATH'}`,
        INSTALL_BWRAP,
      ),
      null,
    );
  }
  const version = await bwrapVersion(bwrap);
  const bwrapName = version ?? 'bubblewrap';
  if (serverIsRoot()) {
    const owner = boxOwner();
    notes.push(
      `the server runs as root: boxes run as host uid ${owner.uid}:${owner.gid} (${owner.source === 'passwd' ? 'the sandbox-mcp user' : owner.source === 'configured' ? '--box-uid' : 'the default; create a user named sandbox-mcp or pass --box-uid to choose another'}), never as root.`,
    );
  }
  if (cgroup.version === 1)
    notes.push('cgroup v1 hierarchy: memory and pids limits use the per-controller mounts.');
  notes.push(
    'workspace size: no per-session quota. Sessions share the free space of the disk that holds the data dir (a ' +
      'full disk answers disk_full and loses nothing); give the data dir a filesystem of its own to keep sessions ' +
      "from filling the host's disk.",
  );

  const tmp = mkdtempSync(join(tmpdir(), 'sandbox-mcp-doctor-'));
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const box = BoxCgroup.create(`doctor-${process.pid}`, {
    memoryBytes: PROBE_MEMORY_BYTES,
    pids: PROBE_PIDS,
  });
  try {
    const port = await listen(server);
    const layout: HostLayout = probeHostLayout(bwrap);
    for (const d of ['workspace', 'mpl']) mkdirSync(join(tmp, d));
    const extraRoBinds = pythonBinds(opts.python);
    const arch = hostSeccompArch();
    const program = seccomp.ok && arch !== null ? seccompProgram(arch) : undefined;
    const home = homedir();
    const boundInHome = extraRoBinds
      .map((b) => b.box)
      .filter((p) => p.startsWith(home + '/'))
      .map((p) => p.slice(home.length + 1).split('/')[0] ?? '');

    ensureBoxOwnership([join(tmp, 'workspace'), join(tmp, 'mpl')]);
    const launch = (command: string[], withSeccomp: boolean) =>
      planBoxLaunch({
        bwrapPath: bwrap,
        spec: {
          workspace: join(tmp, 'workspace'),
          agentDir: opts.agentDir,
          mplConfigDir: join(tmp, 'mpl'),
          command,
          env: {},
          network: 'none',
          extraRoBinds,
          hostLayout: layout,
          ...(withSeccomp ? { seccompFd: 3 } : {}),
        },
        cgroupProcs: box ? box.procsFiles() : [],
        rlimits: { fileSizeBytes: PROBE_FILE_SIZE_BYTES, openFiles: PROBE_OPEN_FILES },
        optionsFd: 4,
      });

    const probeArgs = [
      String(port),
      home,
      String(PROBE_FILE_SIZE_BYTES),
      String(PROBE_OPEN_FILES),
      String(FORK_PROBE_CAP),
      String(PTRACE_NR[arch ?? 'x86_64']),
      boundInHome.join('/'),
    ];
    const result = await runLaunchCommand(
      launch([opts.python, '-I', PROBE_PY, ...probeArgs], program !== undefined),
      {
        ...(program ? { seccompProgram: program } : {}),
        // the host paths the box must not see, on stdin so they appear in no command line
        stdin: [tmp, realpathSync(tmp), process.cwd()].join('\n'),
        timeoutMs: 60_000,
      },
    );
    const probe = parseProbe(result);
    if (probe === null) {
      const why = (result.stderr.trim() || `exit ${result.code ?? result.signal}`).slice(0, 400);
      const fix = /execvp/.test(why)
        ? `check --python: ${opts.python} could not be executed inside the box (an interpreter outside /usr is bound read-only by its installation prefix)`
        : /can't open file/.test(why)
          ? `the agent folder ${opts.agentDir} lacks doctor_probe.py or doctor_memory.py: reinstall sandbox-mcp`
          : 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04+ ' +
            'kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), or run the server as root';
      return report(notEnforcedEverywhere(bwrapName, `the jailed probe did not run: ${why}`, fix), version);
    }

    const protections: ProtectionStatus[] = [];

    const differing = ['user', 'pid', 'mnt', 'ipc', 'uts'].filter((n) => {
      const host = hostNamespace(n);
      const inside = probe.ns[n];
      return host !== null && inside !== undefined && !inside.startsWith('error') && inside !== host;
    });
    const nsOk = differing.length === 5 && probe.hostname === 'sandbox' && probe.pid <= 3;
    protections.push({
      name: 'namespaces',
      enforced: nsOk,
      mechanism: `${bwrapName} (user, pid, mount, ipc, uts namespaces)`,
      detail: `separate namespaces: ${differing.join(', ') || 'none'}; pid ${probe.pid} and uid ${probe.uid} inside; hostname ${probe.hostname}`,
      ...(nsOk
        ? {}
        : { fix: 'use a kernel and bubblewrap that allow --unshare-user/--unshare-pid (bubblewrap >= 0.4)' }),
    });

    const netOk = probe.connect !== 'connected' && connections === 0 && probe.interfaces.join(',') === 'lo';
    protections.push({
      name: 'network_off',
      enforced: netOk,
      mechanism: 'network namespace (--unshare-net)',
      detail: `connect to host 127.0.0.1:${port}: ${probe.connect}; interfaces inside: ${probe.interfaces.join(', ')}`,
      ...(netOk ? {} : { fix: 'bubblewrap must be able to create a network namespace (--unshare-net)' }),
    });

    protections.push(
      await memoryCheck(box, cgroup, (n) => launch([opts.python, '-I', MEMORY_PY, String(n)], false)),
    );

    const pidsOk = box?.pidsEnforced === true && probe.fork_error === 'EAGAIN' && probe.forked < PROBE_PIDS;
    protections.push({
      name: 'pids_limit',
      enforced: pidsOk,
      mechanism: box?.pidsEnforced
        ? `pids cgroup (v${box.version}, pids.max)`
        : `stand-in: ${pidsEnforcedBy('rlimit')}, set by the in-box agent`,
      detail: box?.pidsEnforced
        ? `fork loop stopped after ${probe.forked} children (${probe.fork_error ?? 'no error'}) with pids.max=${PROBE_PIDS}`
        : `no usable pids cgroup: a box's agent sets RLIMIT_NPROC to the process limit instead; this probe, run without the agent, forked ${probe.forked} children (${probe.fork_error ?? 'no error'})`,
      ...(pidsOk ? {} : { fix: cgroup.reason ?? 'make the pids controller available to the server' }),
    });

    const fsizeOk =
      probe.fsize_write === 'EFBIG' &&
      probe.fsize_written <= PROBE_FILE_SIZE_BYTES &&
      probe.fsize_limit[1] === PROBE_FILE_SIZE_BYTES;
    protections.push({
      name: 'file_size_limit',
      enforced: fsizeOk,
      mechanism: 'RLIMIT_FSIZE (soft and hard)',
      detail: `limit ${probe.fsize_limit.join('/')} bytes; writing past it: ${probe.fsize_write}, ${probe.fsize_written} bytes landed`,
      ...(fsizeOk
        ? {}
        : { fix: 'the launcher could not set RLIMIT_FSIZE; check that /bin/sh supports ulimit -f' }),
    });

    const nofileOk =
      probe.nofile_open === 'EMFILE' &&
      probe.nofile_max_fd < PROBE_OPEN_FILES &&
      probe.nofile_limit[1] === PROBE_OPEN_FILES;
    protections.push({
      name: 'open_files_limit',
      enforced: nofileOk,
      mechanism: 'RLIMIT_NOFILE (soft and hard)',
      detail: `limit ${probe.nofile_limit.join('/')}; opening more: ${probe.nofile_open} at fd ${probe.nofile_max_fd + 1}`,
      ...(nofileOk
        ? {}
        : { fix: 'the launcher could not set RLIMIT_NOFILE; check that /bin/sh supports ulimit -n' }),
    });

    const seccompOk = program !== undefined && probe.ptrace === 'EPERM' && probe.seccomp_mode === '2';
    protections.push({
      name: 'seccomp',
      enforced: seccompOk,
      mechanism: program
        ? `seccomp-bpf denylist (${DENIED_SYSCALLS.length} syscalls, namespace clone flags) via bwrap --seccomp`
        : 'none',
      detail: `ptrace inside: ${probe.ptrace}; Seccomp mode ${probe.seccomp_mode ?? 'unknown'}`,
      ...(seccompOk
        ? {}
        : {
            fix:
              seccomp.reason ??
              'bwrap could not load the seccomp program; check kernel CONFIG_SECCOMP_FILTER',
          }),
    });

    const homeHidden = Array.isArray(probe.home_entries)
      ? probe.home_entries.length === 0
      : probe.home_entries === 'ENOENT';
    const fsOk = probe.shadow !== 'readable' && homeHidden && probe.root_write !== 'ok';
    protections.push({
      name: 'filesystem',
      enforced: fsOk,
      mechanism: 'minimal read-only root (bwrap binds: /usr, public /etc files, workspace)',
      detail:
        `/etc/shadow: ${probe.shadow}; host home ${home}: ${Array.isArray(probe.home_entries) ? `${probe.home_entries.length} entries visible` : probe.home_entries}; ` +
        `writing /: ${probe.root_write}`,
      ...(fsOk ? {} : { fix: 'report this: the box root exposes host files it should not' }),
    });
    protections.push(...identityChecks(probe, tmp));

    return report(protections, version);
  } finally {
    server.close();
    // already reported through the protections; nothing else to do
    await box?.destroy().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Who the box is on the host, what of /proc it can touch, which host paths it sees, whether it can plant setuid files. */
function identityChecks(probe: ProbeOutput, tmp: string): ProtectionStatus[] {
  // the kernel's answer, seen from the host: who owns a file the box made
  let hostUid = NaN;
  try {
    hostUid = lstatSync(join(tmp, 'workspace', 'owner-probe')).uid;
  } catch {
    // the box could not write its workspace: reported below
  }
  const owner = boxOwner();
  const idOk = Number.isInteger(hostUid) && hostUid !== 0;
  const writable = Object.entries(probe.proc_writes).filter(([, v]) => v === 'writable');
  const readable = Object.entries(probe.proc_reads).filter(([, v]) => v === 'readable');
  const procOk = writable.length === 0 && readable.length === 0;
  const setuidOnHost = ['suid-chmod', 'suid-create'].filter((n) => {
    try {
      return (lstatSync(join(tmp, 'workspace', n)).mode & 0o6000) !== 0;
    } catch {
      return false;
    }
  });
  const suidOk = setuidOnHost.length === 0;
  const pathsOk = probe.host_path_leaks.length === 0;
  return [
    {
      name: 'host_identity',
      enforced: idOk,
      mechanism: serverIsRoot()
        ? `box uid ${owner.uid}:${owner.gid} (${owner.source === 'passwd' ? 'user sandbox-mcp' : owner.source}), set by setpriv before bwrap`
        : "the server's own unprivileged uid (user namespace)",
      detail: `box uid 1000 is host uid ${Number.isInteger(hostUid) ? hostUid : `unknown (${probe.owner_probe})`}`,
      ...(idOk
        ? {}
        : { fix: 'the box must never map to host root: check --box-uid and that setpriv exists' }),
    },
    {
      name: 'proc_protected',
      enforced: procOk,
      mechanism: '/proc/sys, /proc/fs, /proc/bus, /proc/irq read-only; kcore, keys, timer_list, … masked',
      detail:
        `writable: ${writable.map(([k]) => k).join(', ') || 'none'}; ` +
        `readable kernel internals: ${readable.map(([k]) => k).join(', ') || 'none'}`,
      ...(procOk ? {} : { fix: 'report this: a global /proc entry is open to the box' }),
    },
    {
      name: 'no_host_paths',
      enforced: pathsOk,
      mechanism:
        "bwrap options through a descriptor (--args), a clean environment, '/' as the launcher's folder",
      detail: `host paths seen in: ${probe.host_path_leaks.join(', ') || 'nothing checked (environ, cmdline, PWD)'}`,
      ...(pathsOk ? {} : { fix: 'report this: a host path reaches the box' }),
    },
    {
      name: 'no_setuid',
      enforced: suidOk && probe.setuid.chmod !== 'ok' && probe.setuid.create !== 'ok',
      mechanism: 'seccomp refuses modes with setuid/setgid bits (chmod family, open/mkdir/mknod)',
      detail: `chmod 4755 inside: ${probe.setuid.chmod}; create with 6755: ${probe.setuid.create}; setuid files on the host: ${setuidOnHost.join(', ') || 'none'}`,
      ...(suidOk && probe.setuid.chmod !== 'ok'
        ? {}
        : { fix: 'needs the seccomp filter (x86_64 or aarch64 kernel with CONFIG_SECCOMP_FILTER)' }),
    },
  ];
}

async function memoryCheck(
  box: BoxCgroup | null,
  support: CgroupSupport,
  launchBomb: (chunks16MiB: number) => LaunchCommand,
): Promise<ProtectionStatus> {
  if (box === null || !box.memoryEnforced) {
    return {
      name: 'memory_limit',
      enforced: false,
      mechanism: `stand-in: ${memoryEnforcedBy('rlimit')}`,
      detail:
        "no usable memory cgroup: a box's agent caps each process's private memory at the session's memory limit " +
        '(RLIMIT_DATA); the box as a whole can use all host memory',
      fix: support.reason ?? 'make the memory controller available to the server',
    };
  }
  const before = box.oomKillCount();
  // four times the limit, so swap or reclaim cannot hide a missing limit
  const result = await runLaunchCommand(launchBomb(Math.ceil((4 * PROBE_MEMORY_BYTES) / (16 << 20))), {
    timeoutMs: 60_000,
  });
  const kills = box.oomKillCount() - before;
  const survived = result.stdout.includes('survived');
  const ok = !survived && kills > 0;
  return {
    name: 'memory_limit',
    enforced: ok,
    mechanism: `memory cgroup (v${box.version}, ${box.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'})`,
    detail: `allocating ${(4 * PROBE_MEMORY_BYTES) >> 20} MiB under a ${PROBE_MEMORY_BYTES >> 20} MiB limit: ${
      survived ? 'succeeded' : `killed (exit ${result.code ?? result.signal})`
    }, oom kills ${kills}`,
    ...(ok
      ? {}
      : {
          fix: 'the memory cgroup did not stop the allocation; check swap accounting (swapaccount=1) or memory.swap.max',
        }),
  };
}

function cpuLine(cpu: CpuSupport): string {
  return cpu.enforced ? cpu.mechanism : `NO: ${cpu.reason ?? 'no cpu cgroup'}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The report as the CLI prints it: a table of protections, then the fixes and notes. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  lines.push(
    `bubblewrap: ${report.bwrap.path ? `${report.bwrap.path} (${report.bwrap.version ?? 'unknown version'})` : 'not found'}`,
    `python:     ${report.python}`,
    `cgroups:    ${report.cgroup.version ? `v${report.cgroup.version}` : 'none'} (memory ${report.cgroup.memory ? 'yes' : 'no'}, pids ${report.cgroup.pids ? 'yes' : 'no'})`,
    ...(report.cpu ? [`cpu share:  ${cpuLine(report.cpu)}`] : []),
    `seccomp:    ${report.seccomp.ok ? `yes (${report.seccomp.arch})` : `no (${report.seccomp.reason ?? report.seccomp.arch})`}`,
    '',
  );
  const rows = report.protections.map((p) => [p.name, p.enforced ? 'yes' : 'NO', p.mechanism, p.detail]);
  const header = ['PROTECTION', 'ENFORCED', 'MECHANISM', 'DETAIL'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    `${pad(r[0]!, widths[0]!)}  ${pad(r[1]!, widths[1]!)}  ${pad(r[2]!, widths[2]!)}  ${r[3]}`;
  lines.push(fmt(header), ...rows.map(fmt));
  // one line per distinct fix: a missing bwrap would otherwise repeat the same advice for every protection
  const byFix = new Map<string, string[]>();
  for (const p of report.protections) {
    if (p.enforced || !p.fix) continue;
    byFix.set(p.fix, [...(byFix.get(p.fix) ?? []), p.name]);
  }
  if (byFix.size > 0) {
    lines.push('', 'To fix:');
    for (const [fix, names] of byFix) lines.push(`  ${names.join(', ')}: ${fix}`);
  }
  if (report.notes.length > 0) {
    lines.push('', 'Notes:');
    for (const n of report.notes) lines.push(`  - ${n}`);
  }
  lines.push(
    '',
    report.allEnforced
      ? 'All protections are enforced.'
      : 'Some protections are NOT enforced on this machine.',
  );
  return lines.join('\n');
}
