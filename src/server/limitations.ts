// What one session can and cannot do, assembled from the live configuration: the box's mechanisms as started, the
// session's limits and network policy, and the shell rules in force. Pure; it must never state a protection that the
// inputs do not show is in force.
import type { Config } from '../config.js';
import type { NetworkDescription } from '../network/policy.js';
import { BOX_AGENT_DIR, BOX_MPLCONFIG_DIR } from '../sandbox/bwrap-argv.js';
import type { Mechanisms } from '../sandbox/box.js';
import { limitNotices, memoryEnforcedBy, pidsEnforcedBy } from '../sandbox/limit-stand-ins.js';
import { boxOwner, serverIsRoot } from '../box-user.js';
import type { ShellRule } from '../policy/shell-rules.js';
import type { Limit, SandboxLimitations } from './limitations-schema.js';

export interface LimitationsInput {
  sessionId: string;
  /** The workspace as the code sees it: /workspace in a box, the host folder without isolation. */
  workspace: string;
  /** The session's network as the network service describes it. */
  network: NetworkDescription;
  timeoutS: number;
  memoryMb: number;
  pids: number;
  /** Free space of the disk that holds the workspace, in bytes, when it could be read. */
  diskFreeBytes: number | null;
  mechanisms: Mechanisms;
  config: Pick<Config, 'fileSizeMb' | 'openFiles' | 'outputCap' | 'graceMs'>;
  policy: { source: string; rules: readonly ShellRule[] };
  python: SandboxLimitations['python'];
}

export function describeLimitations(i: LimitationsInput): SandboxLimitations {
  const boxed = i.mechanisms.isolation !== 'none';
  const net = i.network;
  const ownNet = boxed && net.mode !== 'full';
  const memoryBy = memoryEnforcedBy(i.mechanisms.memory);
  const pidsBy = pidsEnforcedBy(i.mechanisms.pids);
  const limits: Limit[] = [
    {
      name: 'wall-clock time per call',
      value: i.timeoutS,
      unit: 's',
      enforced_by: 'the server (SIGINT through the in-box agent, then a kill after the grace period)',
    },
    { name: 'memory', value: i.memoryMb, unit: 'MiB', enforced_by: memoryBy },
    { name: 'processes', value: i.pids, unit: 'count', enforced_by: pidsBy },
    { name: 'file size', value: i.config.fileSizeMb, unit: 'MiB', enforced_by: 'rlimit (RLIMIT_FSIZE)' },
    { name: 'open files', value: i.config.openFiles, unit: 'count', enforced_by: 'rlimit (RLIMIT_NOFILE)' },
    ...(i.diskFreeBytes === null
      ? []
      : [
          {
            name: 'workspace disk space',
            value: Math.floor(i.diskFreeBytes / 2 ** 20),
            unit: 'MiB free',
            enforced_by:
              'not per session: the free space of the disk that holds the workspace, shared with other sessions ' +
              '(writing past it fails with ENOSPC)',
          },
        ]),
    {
      name: 'output kept per stream',
      value: i.config.outputCap,
      unit: 'bytes',
      enforced_by: 'the in-box agent (head and tail kept, the rest saved to a workspace file)',
    },
  ];
  const namespaces = boxed
    ? ['user', 'pid', 'ipc', 'uts', 'mount', 'cgroup', ...(ownNet ? ['network'] : [])]
    : [];
  const denied = i.policy.rules.map((r) => ({ id: r.id, category: r.category, description: r.description }));

  const can = [
    `run Python (${i.python.version ?? 'version unknown'}) with state kept between calls`,
    `run shell commands with /bin/sh in the same sandbox, files and limits`,
    boxed
      ? `read and write files under ${i.workspace} (kept between calls) and /tmp (private, lost when the sandbox restarts)`
      : 'read and write any file the server user can',
    ...(ownNet ? ['start servers and reach them on localhost from this session'] : []),
  ];
  const cannot: string[] = [];
  if (boxed) {
    cannot.push(
      'become root or gain privileges (uid 1000, no capabilities)',
      "see the host's files outside the few read-only system folders, the server's data or other sessions",
      'mount file systems, load kernel modules or create namespaces',
    );
    if (i.mechanisms.seccomp)
      cannot.push('use system calls Python never needs (mount, ptrace, bpf, kexec, keyctl…): seccomp');
  }
  if (net.mode === 'none' && boxed) cannot.push('reach the network beyond localhost');
  if (net.mode === 'allowlist' && boxed)
    cannot.push(
      `reach hosts outside the allowlist (${net.allowed_domains.join(', ')}): the proxy refuses them as network_denied`,
    );
  cannot.push(
    `run a single call longer than ${i.timeoutS} s`,
    ...(i.mechanisms.memory === 'cgroup' ? [`use more than ${i.memoryMb} MiB of memory`] : []),
    ...(i.mechanisms.pids !== 'none' ? [`run more than ${i.pids} processes at once`] : []),
    `write a file larger than ${i.config.fileSizeMb} MiB`,
    `run shell commands the policy refuses (${denied.length} rules: ${[...new Set(denied.map((d) => d.category))].join(', ')})`,
  );
  const notes: string[] = [];
  if (!boxed)
    notes.push(
      "WARNING: isolation is off (--isolation none): code runs unsandboxed with the server user's rights",
    );
  notes.push(...limitNotices(i.mechanisms, i.memoryMb, i.pids));
  notes.push(
    'there is no per-session disk quota: the workspace can use the free space of the disk that holds it',
  );

  return {
    session_id: i.sessionId,
    isolation: {
      mode: i.mechanisms.isolation,
      namespaces,
      seccomp: i.mechanisms.seccomp,
      runs_as: boxed ? boxIdentityText() : "the server's own user",
    },
    limits,
    network: {
      policy: net.mode,
      description: net.summary,
      enforced: net.enforced,
      allowed_domains: net.allowed_domains,
      proxy: net.proxy,
      recent_denials: net.recent_denials,
    },
    filesystem: boxed
      ? {
          workspace: i.workspace,
          writable: [i.workspace, '/tmp', BOX_MPLCONFIG_DIR],
          read_only: ['/usr', '/etc (public configuration only)', BOX_AGENT_DIR, '/proc/sys'],
          not_visible: [
            "the host's home folders and other files",
            "the server's data folder",
            "other sessions' workspaces",
          ],
        }
      : {
          workspace: i.workspace,
          writable: ['everything the server user can write'],
          read_only: [],
          not_visible: [],
        },
    shell: { interpreter: '/bin/sh', policy_source: i.policy.source, denied },
    python: i.python,
    can,
    cannot: [...notes, ...cannot],
  };
}

/** Who a box's code is, inside and on the host: what an agent reads must be true for a root server too. */
function boxIdentityText(): string {
  const owner = boxOwner();
  const host = serverIsRoot()
    ? `host uid ${owner.uid} (an unprivileged uid the server reserves for boxes, never root)`
    : `the server's own unprivileged host uid ${owner.uid}`;
  return `uid 1000 (sandbox) in its own user namespace, no capabilities; on the host it is ${host}; /proc/sys is read-only`;
}
