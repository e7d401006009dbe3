// Builds (purely) the Engine API create options of one Docker box: the same limits and protections a bubblewrap box
// has, expressed as container settings; unit-tested, and read back by doctor from a real container.
import type { ContainerCreateOptions, MountSettings } from 'dockerode';
import {
  BOX_AGENT_DIR,
  BOX_HOSTNAME,
  BOX_MPLCONFIG_DIR,
  BOX_WORKSPACE,
  boxEnvironment,
} from '../bwrap-argv.js';
import type { BoxLimits } from '../box.js';
import { BACKGROUND_CPU_SHARES_V1, CPU_SHARES_V1 } from '../cgroups.js';
import { SandboxError } from '../../errors.js';
import { seccompProgram, type SeccompArch } from '../seccomp.js';
import type { EngineFacts } from './engine.js';

/** The label every box of this server carries: leftovers of a killed server are found by it. */
export const BOX_LABEL = 'dev.sandbox-mcp.box';

/** The named volumes of a box whose /workspace is a volume (workspace-volume.ts). */
export interface BoxVolumes {
  workspace: string;
  mplConfig: string;
}

/**
 * The mounts of a box whose workspace and matplotlib cache are volumes. NoCopy: the image's folder (owned by root)
 * is never copied over a still-empty volume, whose root the volume set-up gave to the box uid.
 */
export function volumeMounts(v: BoxVolumes): MountSettings[] {
  // the typings want every VolumeOptions field; the Engine API takes NoCopy alone
  const mount = (Source: string, Target: string) =>
    ({ Type: 'volume', Source, Target, VolumeOptions: { NoCopy: true } }) as unknown as MountSettings;
  return [mount(v.workspace, BOX_WORKSPACE), mount(v.mplConfig, BOX_MPLCONFIG_DIR)];
}

export interface ContainerSpecInput {
  image: string;
  /** The session id; names the container with the server's instance key. */
  name: string;
  /** Distinguishes this data dir's boxes from another server's on the same engine. */
  instance: string;
  workspace: string;
  mplConfigDir: string;
  /** The Python that runs the agent, as the box sees it (the image's, or a session venv's). */
  python: string;
  user: { uid: number; gid: number };
  limits: BoxLimits;
  env: Record<string, string>;
  network: 'none' | 'host';
  extraRoBinds?: Array<{ host: string; box: string }> | undefined;
  extraRwBinds?: Array<{ host: string; box: string }> | undefined;
  /** Named volumes for /workspace and the matplotlib cache instead of bind mounts of the host folders. */
  volumes?: BoxVolumes | undefined;
  /** The seccomp program bubblewrap boxes get (seccomp.ts), for the engine's architecture (boxSeccompProgram). */
  seccomp: Buffer | null;
  /** A warm-pool box: the lowest CPU share until it is handed out (DockerBox.foreground raises it). */
  background?: boolean | undefined;
}

const programs = new Map<SeccompArch, Buffer>();

/**
 * The seccomp program of bubblewrap boxes, which Docker boxes load too, built once per architecture for the engine's
 * CPU (a remote engine's may differ from this server's). No program for the engine's CPU: no box, rather than a box
 * without the filter.
 */
export function boxSeccompProgram(engine: Pick<EngineFacts, 'arch' | 'architecture'>): Buffer {
  const arch = engine.arch;
  if (!arch)
    throw new SandboxError(
      'isolation_unavailable',
      `the Docker engine runs on ${engine.architecture}, for which there is no seccomp program (only x86_64 and aarch64)`,
      { architecture: engine.architecture },
      'use an engine on an x86_64 or aarch64 machine',
    );
  let program = programs.get(arch);
  if (!program) programs.set(arch, (program = seccompProgram(arch)));
  return program;
}

/** A host path in a bind spec must not carry the separator Docker splits on. */
function bind(host: string, box: string, mode: 'ro' | 'rw'): string {
  if (host.includes(':') || box.includes(':')) throw new Error(`a bind path must not contain ':' (${host})`);
  return `${host}:${box}:${mode}`;
}

export function containerName(instance: string, name: string): string {
  return `sandbox-mcp-${instance}-${name}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

export function containerSpec(input: ContainerSpecInput): ContainerCreateOptions & { name: string } {
  const l = input.limits;
  const env = boxEnvironment({
    ...input.env,
    SANDBOX_RLIMIT_FSIZE: String(l.fileSizeBytes),
    SANDBOX_RLIMIT_NOFILE: String(l.openFiles),
    SANDBOX_AGENT_PYTHON: input.python,
    // pid 1 loads it before the agent starts, on top of the engine's profile (docker_init.py)
    ...(input.seccomp ? { SANDBOX_SECCOMP_BPF: input.seccomp.toString('base64') } : {}),
  });
  const ulimit = (Name: string, v: number) => ({ Name, Soft: v, Hard: v });
  return {
    name: containerName(input.instance, input.name),
    Image: input.image,
    Cmd: ['/usr/bin/python3', '-I', '-u', `${BOX_AGENT_DIR}/docker_init.py`],
    Entrypoint: [],
    User: `${input.user.uid}:${input.user.gid}`,
    WorkingDir: BOX_WORKSPACE,
    Hostname: BOX_HOSTNAME,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { [BOX_LABEL]: input.instance, [`${BOX_LABEL}.session`]: input.name },
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    // the server's attach ending (the server killed) closes pid 1's stdin, which ends the box as bwrap's die-with-parent
    StdinOnce: true,
    Tty: false,
    NetworkDisabled: input.network === 'none',
    HostConfig: {
      Binds: [
        ...(input.volumes
          ? []
          : [bind(input.workspace, BOX_WORKSPACE, 'rw'), bind(input.mplConfigDir, BOX_MPLCONFIG_DIR, 'rw')]),
        ...(input.extraRoBinds ?? []).map((b) => bind(b.host, b.box, 'ro')),
        ...(input.extraRwBinds ?? []).map((b) => bind(b.host, b.box, 'rw')),
      ],
      ...(input.volumes ? { Mounts: volumeMounts(input.volumes) } : {}),
      NetworkMode: input.network === 'host' ? 'host' : 'none',
      ReadonlyRootfs: true,
      // memory-backed and charged to the box's memory limit, as a bubblewrap box's /tmp
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${Math.max(1, Math.floor(l.memoryBytes / 1024))}k` },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Memory: l.memoryBytes,
      MemorySwap: l.memoryBytes, // no swap: the limit is the limit
      PidsLimit: l.pids,
      CpuShares: input.background ? BACKGROUND_CPU_SHARES_V1 : CPU_SHARES_V1,
      ...(l.cpuQuota ? { NanoCpus: Math.round(l.cpuQuota * 1e9) } : {}),
      Ulimits: [ulimit('nofile', l.openFiles), ulimit('fsize', l.fileSizeBytes)],
      IpcMode: 'private',
      Init: false, // docker_init.py is pid 1: it carries the streams and reaps
      AutoRemove: true,
      // a box never keeps the host's /dev devices; /proc and /sys are the runtime's masked, read-only views
      Privileged: false,
    },
  };
}
