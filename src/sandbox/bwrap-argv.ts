// Builds the bubblewrap argv for one box from a spec and a probed host layout; the builder must never touch the filesystem nor expose a host path the spec did not name.
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { invalidArgument } from '../errors.js';

export const BOX_WORKSPACE = '/workspace';
export const BOX_AGENT_DIR = '/opt/sandbox-agent';
export const BOX_MPLCONFIG_DIR = '/opt/mplconfig';
export const BOX_HOSTNAME = 'sandbox';
export const BOX_UID = 1000;
export const BOX_GID = 1000;
export const BOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BindMount {
  host: string;
  box: string;
}

/** What the host looks like where the box's minimal root is assembled; probed once by probeHostLayout(). */
export interface HostLayout {
  /** Top-level entries that are symlinks on the host (merged /usr), recreated as the same symlinks. */
  rootSymlinks: { path: string; target: string }[];
  /** Top-level directories that are real on the host (unmerged /usr), bound read-only. */
  rootDirs: string[];
  /** Public /etc entries (relative to /etc) that exist on the host; see PUBLIC_ETC_ENTRIES. */
  etcEntries: string[];
  /** The host's bwrap understands --disable-userns (0.8+). */
  disableUserns: boolean;
  /** A private host directory holding SYNTHETIC_ETC_FILES, or null when it could not be written (the box then has no passwd/group/hosts). */
  syntheticEtcDir: string | null;
  /** Entries of PROC_MASKED_FILES, PROC_MASKED_DIRS and PROC_READ_ONLY that exist in this kernel's /proc. */
  procEntries: string[];
}

/**
 * Global /proc entries the box must not read or write, as container runtimes mask them: files are covered with
 * /dev/null, folders with an empty read-only tmpfs. A box never needs kernel symbols, keys or timer internals.
 */
export const PROC_MASKED_FILES: readonly string[] = [
  'kcore',
  'keys',
  'key-users',
  'timer_list',
  'timer_stats',
  'sched_debug',
  'latency_stats',
  'kallsyms',
  'kmsg',
  'kpagecount',
  'kpageflags',
  'kpagecgroup',
  'config.gz',
  'sysrq-trigger',
];
export const PROC_MASKED_DIRS: readonly string[] = ['acpi', 'scsi', 'asound'];
/** Readable but never writable: sysctls (core_pattern, drop_caches, …), filesystem and bus settings. */
export const PROC_READ_ONLY: readonly string[] = ['sys', 'fs', 'bus', 'irq'];

export interface BoxSpec {
  workspace: string;
  agentDir: string;
  mplConfigDir: string;
  command: string[];
  /** Extra environment on top of the allowlist; may override allowlisted values. */
  env: Record<string, string>;
  network: 'none' | 'host';
  extraRoBinds?: BindMount[];
  extraRwBinds?: BindMount[];
  /** An fd inherited by bwrap holding a classic-BPF program (see seccomp.ts). */
  seccompFd?: number;
  hostLayout: HostLayout;
}

// Only world-readable, host-agnostic configuration. /etc is never bound whole: bwrap running as root maps the box
// user onto host root, so owner permission bits would make /etc/shadow, /etc/ssl/private and friends readable.
export const PUBLIC_ETC_ENTRIES: readonly string[] = [
  'ld.so.cache', // the loader cannot find multiarch libraries without it
  'localtime',
  'timezone',
  'alternatives', // Debian points libblas/liblapack (numpy) and some binaries through it
  'ssl/certs',
  'ssl/openssl.cnf',
  'ca-certificates',
  'fonts',
  'mime.types',
  'matplotlibrc',
  'os-release',
  'debian_version',
  'services',
  'protocols',
];

/** Host networking only: name resolution the host uses, meaningless without its network. */
export const HOST_NETWORK_ETC_ENTRIES: readonly string[] = ['resolv.conf', 'hosts', 'gai.conf', 'host.conf'];

export const SYNTHETIC_ETC_FILES = ['passwd', 'group', 'hosts', 'nsswitch.conf'] as const;
export type SyntheticEtcFile = (typeof SYNTHETIC_ETC_FILES)[number];

/** The identity and name-service files of the box, so getpass/pwd and "localhost" work without the host's copies. */
export function syntheticEtcContents(): Record<SyntheticEtcFile, string> {
  return {
    passwd:
      'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
      `sandbox:x:${BOX_UID}:${BOX_GID}:sandbox:${BOX_WORKSPACE}:/bin/sh\n` +
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    group: `root:x:0:\nsandbox:x:${BOX_GID}:\nnogroup:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost\n127.0.1.1\t${BOX_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    'nsswitch.conf':
      'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nservices: files\nprotocols: files\n',
  };
}

/** Writes the synthetic /etc files into dir atomically, so a box starting concurrently never sees a half-written file. */
export function writeSyntheticEtc(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const contents = syntheticEtcContents();
  for (const name of SYNTHETIC_ETC_FILES) {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, contents[name], { mode: 0o644 });
    renameSync(tmp, join(dir, name));
  }
}

const ROOT_LINK_CANDIDATES = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

let syntheticEtcDir: string | null | undefined;

// A directory only we can write, so nobody can swap the files the box trusts for its identity.
function privateDir(path: string): boolean {
  mkdirSync(path, { recursive: true, mode: 0o755 });
  const st = lstatSync(path);
  return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

// Shared by every server process of this user (the content is constant): /run for root, $XDG_RUNTIME_DIR otherwise,
// else a mkdtemp directory removed on exit, never a guessable path in a world-writable /tmp.
function ensureSyntheticEtcDir(): string | null {
  if (syntheticEtcDir !== undefined) return syntheticEtcDir;
  const runtime = process.getuid?.() === 0 ? '/run' : process.env.XDG_RUNTIME_DIR;
  syntheticEtcDir = null;
  try {
    if (runtime && posix.isAbsolute(runtime)) {
      const dir = join(runtime, 'sandbox-mcp', 'etc');
      if (privateDir(join(runtime, 'sandbox-mcp')) && privateDir(dir)) {
        writeSyntheticEtc(dir);
        syntheticEtcDir = dir;
        return dir;
      }
    }
  } catch {
    // fall through to a temporary directory
  }
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-etc-'));
    writeSyntheticEtc(dir);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    syntheticEtcDir = dir;
  } catch {
    // the box then runs without passwd/group/hosts
  }
  return syntheticEtcDir;
}

/**
 * Probes the host for the layout buildBwrapArgv needs. Read-only on the host, except that the first call writes the
 * synthetic /etc files into a private directory (/run/sandbox-mcp/etc for root). Cheap; call once at startup.
 */
export function probeHostLayout(
  bwrapPath = '/usr/bin/bwrap',
  etcRoot = '/etc',
  procRoot = '/proc',
): HostLayout {
  const rootSymlinks: HostLayout['rootSymlinks'] = [];
  const rootDirs: string[] = [];
  for (const path of ROOT_LINK_CANDIDATES) {
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) rootSymlinks.push({ path, target: readlinkSync(path) });
      else if (st.isDirectory()) rootDirs.push(path);
    } catch {
      // absent on this host: nothing to recreate
    }
  }
  const etcEntries: string[] = [];
  for (const entry of [...PUBLIC_ETC_ENTRIES, ...HOST_NETWORK_ETC_ENTRIES]) {
    try {
      lstatSync(join(etcRoot, entry));
      etcEntries.push(entry);
    } catch {
      // absent on this host
    }
  }
  // Debian's python3.X links its sitecustomize.py into /etc/python3.X.
  try {
    for (const name of readdirSync(etcRoot)) if (/^python3(\.\d+)?$/.test(name)) etcEntries.push(name);
  } catch {
    // unreadable /etc: the box simply gets less of it
  }
  let disableUserns = false;
  try {
    const help = execFileSync(bwrapPath, ['--help'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
    });
    disableUserns = help.includes('--disable-userns');
  } catch {
    // no bwrap: the layout is still useful for reporting
  }
  const procEntries: string[] = [];
  for (const entry of [...PROC_MASKED_FILES, ...PROC_MASKED_DIRS, ...PROC_READ_ONLY]) {
    try {
      lstatSync(join(procRoot, entry));
      procEntries.push(entry);
    } catch {
      // not in this kernel: nothing to cover
    }
  }
  return {
    rootSymlinks,
    rootDirs,
    etcEntries,
    disableUserns,
    syntheticEtcDir: ensureSyntheticEtcDir(),
    procEntries,
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function assertAbsolute(what: string, path: string): void {
  if (!posix.isAbsolute(path) || path.includes('\0') || path.split('/').includes('..')) {
    throw invalidArgument(`${what} must be an absolute path without '..': ${JSON.stringify(path)}`, {
      what,
      path,
    });
  }
}

function assertNoNul(what: string, value: string): void {
  if (value.includes('\0')) throw invalidArgument(`${what} contains a NUL byte`, { what });
}

/**
 * The environment inside the box: a fixed allowlist plus the caller's extras; nothing of the host leaks through.
 * bwrap adds PWD itself after --chdir.
 */
export function boxEnvironment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: BOX_PATH,
    HOME: BOX_WORKSPACE,
    USER: 'sandbox',
    LOGNAME: 'sandbox',
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
    MPLCONFIGDIR: BOX_MPLCONFIG_DIR,
    MPLBACKEND: 'Agg',
    SANDBOX_IN_BOX: '1',
    SANDBOX_WORKSPACE: BOX_WORKSPACE,
  };
  for (const [name, value] of Object.entries(extra)) {
    if (!ENV_NAME.test(name))
      throw invalidArgument(`invalid environment variable name ${JSON.stringify(name)}`, { name });
    assertNoNul(`environment variable ${name}`, value);
    env[name] = value;
  }
  return env;
}

/** The argv after `bwrap`, ending with `--` and the command. Pure: everything it needs is in spec. */
export function buildBwrapArgv(spec: BoxSpec): string[] {
  const parts = buildBwrapParts(spec);
  return [...parts.options, '--', ...parts.command];
}

/** The /proc covers: after --proc, global entries are masked or bound read-only onto themselves. */
function procProtection(present: readonly string[]): string[] {
  const have = new Set(present);
  const argv: string[] = [];
  for (const entry of PROC_READ_ONLY)
    if (have.has(entry)) argv.push('--ro-bind', `/proc/${entry}`, `/proc/${entry}`);
  for (const entry of PROC_MASKED_FILES)
    if (have.has(entry)) argv.push('--ro-bind', '/dev/null', `/proc/${entry}`);
  for (const entry of PROC_MASKED_DIRS)
    if (have.has(entry)) argv.push('--tmpfs', `/proc/${entry}`, '--remount-ro', `/proc/${entry}`);
  return argv;
}

/**
 * bwrap's options and the command apart: the options travel through a descriptor (`--args FD`), so the box's
 * pid 1 shows no host path in its command line; only the command, which names box paths, stays on the argv.
 */
export function buildBwrapParts(spec: BoxSpec): { options: string[]; command: string[] } {
  assertAbsolute('workspace', spec.workspace);
  assertAbsolute('agentDir', spec.agentDir);
  assertAbsolute('mplConfigDir', spec.mplConfigDir);
  const etcDir = spec.hostLayout.syntheticEtcDir;
  if (etcDir !== null) assertAbsolute('syntheticEtcDir', etcDir);
  if (spec.command.length === 0) throw invalidArgument('command must not be empty');
  spec.command.forEach((arg, i) => assertNoNul(`command[${i}]`, arg));
  const extraRo = spec.extraRoBinds ?? [];
  const extraRw = spec.extraRwBinds ?? [];
  for (const b of [...extraRo, ...extraRw]) {
    assertAbsolute('bind host path', b.host);
    assertAbsolute('bind box path', b.box);
  }
  if (spec.seccompFd !== undefined && !(Number.isInteger(spec.seccompFd) && spec.seccompFd > 2)) {
    throw invalidArgument('seccompFd must be an inherited fd above stdio', { seccompFd: spec.seccompFd });
  }
  const layout = spec.hostLayout;
  const hostNet = spec.network === 'host';

  const argv: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
  ];
  if (!hostNet) argv.push('--unshare-net');
  argv.push('--uid', String(BOX_UID), '--gid', String(BOX_GID), '--hostname', BOX_HOSTNAME);
  // Belt and braces with the seccomp denylist: nested user namespaces are the usual kernel attack surface.
  if (layout.disableUserns) argv.push('--disable-userns');
  argv.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');

  argv.push('--ro-bind', '/usr', '/usr');
  for (const link of layout.rootSymlinks) argv.push('--symlink', link.target, link.path);
  for (const dir of layout.rootDirs) argv.push('--ro-bind', dir, dir);

  const synthetic = new Set<string>(etcDir !== null ? SYNTHETIC_ETC_FILES : []);
  if (hostNet) synthetic.delete('hosts');
  const publicEtc = new Set(PUBLIC_ETC_ENTRIES);
  for (const entry of layout.etcEntries) {
    const allowed =
      publicEtc.has(entry) ||
      /^python3(\.\d+)?$/.test(entry) ||
      (hostNet && HOST_NETWORK_ETC_ENTRIES.includes(entry));
    if (!allowed || synthetic.has(entry)) continue;
    argv.push('--ro-bind', `/etc/${entry}`, `/etc/${entry}`);
  }
  if (etcDir !== null)
    for (const name of synthetic) argv.push('--ro-bind', posix.join(etcDir, name), `/etc/${name}`);

  argv.push('--proc', '/proc', ...procProtection(layout.procEntries), '--dev', '/dev', '--tmpfs', '/tmp');
  argv.push('--bind', spec.workspace, BOX_WORKSPACE);
  argv.push('--ro-bind', spec.agentDir, BOX_AGENT_DIR);
  argv.push('--bind', spec.mplConfigDir, BOX_MPLCONFIG_DIR);
  for (const b of extraRo) argv.push('--ro-bind', b.host, b.box);
  for (const b of extraRw) argv.push('--bind', b.host, b.box);
  // bwrap's root is a writable tmpfs: left writable, code could plant files beside /etc and /usr that other tools trust.
  argv.push('--remount-ro', '/');

  argv.push('--clearenv');
  for (const [name, value] of Object.entries(boxEnvironment(spec.env))) argv.push('--setenv', name, value);
  argv.push('--chdir', BOX_WORKSPACE);
  if (spec.seccompFd !== undefined) argv.push('--seccomp', String(spec.seccompFd));
  return { options: argv, command: [...spec.command] };
}
