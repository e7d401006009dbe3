// The connection to the Docker engine (dockerode, loaded on first use so servers on bubblewrap never load it), with a
// bounded ping and the engine facts doctor and the box need (cgroup version, user-namespace remapping, seccomp,
// CPU architecture).
import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors.js';
import type { SeccompArch } from '../seccomp.js';
import { findDockerEndpoint, type DockerEndpoint } from './endpoint.js';
import { sshEngine, sshFailure, type SshEngine } from './ssh-engine.js';

export interface EngineFacts {
  serverVersion: string;
  apiVersion: string;
  os: string;
  kernel: string;
  cgroupVersion: string;
  /** The engine's security options (name=seccomp,profile=default, name=userns, name=rootless…). */
  securityOptions: string[];
  usernsRemap: boolean;
  rootless: boolean;
  /** The engine's CPU as it names it (info.Architecture), which may differ from this server's. */
  architecture: string;
  /** The seccomp program's architecture for the engine's CPU; null when there is no program for it. */
  arch: SeccompArch | null;
}

/** The seccomp architecture of an engine's CPU as the Engine API names it (uname's or Go's name). */
export function engineSeccompArch(architecture: string): SeccompArch | null {
  const a = architecture.trim().toLowerCase();
  if (a === 'x86_64' || a === 'amd64') return 'x86_64';
  if (a === 'aarch64' || a === 'arm64') return 'aarch64';
  return null;
}

export interface Engine {
  docker: Dockerode;
  endpoint: DockerEndpoint;
  facts: EngineFacts;
}

const PING_MS = 5000;
let current: { host: string; engine: Promise<Engine> } | null = null;

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function unavailable(endpoint: DockerEndpoint | null, reason: string, code?: string): SandboxError {
  const ssh = endpoint?.host.startsWith('ssh://') ?? false;
  const socket = endpoint?.host.startsWith('unix://') ? endpoint.host.slice('unix://'.length) : null;
  return new SandboxError(
    'isolation_unavailable',
    endpoint
      ? `the Docker engine at ${endpoint.host} does not answer: ${reason}`
      : `no Docker engine was found (${reason})`,
    { docker_host: endpoint?.host ?? null },
    socket && (code === 'EACCES' || code === 'EPERM')
      ? `this user may not open ${socket}: add it to the socket's group (e.g. \`usermod -aG docker <user>\`, then a new login) or run the server as a user that may; \`sandbox-mcp doctor\` shows what answers`
      : ssh
        ? 'an ssh:// engine needs a key the host accepts (in an SSH agent, SSH_AUTH_SOCK, or an IdentityFile without passphrase), the host key in known_hosts (~/.ssh/known_hosts, or the UserKnownHostsFile of ~/.ssh/config), and the docker CLI on the host; `sandbox-mcp doctor` shows what answers'
        : 'start Docker (Docker Desktop, OrbStack, Colima, or dockerd), or set DOCKER_HOST; `sandbox-mcp doctor` shows what answers',
  );
}

async function open(endpoint: DockerEndpoint): Promise<Engine> {
  const { default: Docker } = await import('dockerode');
  let ssh: SshEngine | null = null;
  try {
    if (endpoint.host.startsWith('ssh://')) ssh = sshEngine(endpoint.host);
  } catch (err) {
    throw unavailable(endpoint, err instanceof Error ? err.message : String(err));
  }
  // DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) is read by dockerode itself; for ssh:// the address,
  // keys and host key check come from ssh-engine.ts.
  const docker =
    process.env.DOCKER_HOST?.trim() === endpoint.host
      ? new Docker(ssh?.options)
      : new Docker({ socketPath: endpoint.host.replace(/^unix:\/\//, '') });
  try {
    await withTimeout(docker.ping(), PING_MS, 'ping');
    const info = (await withTimeout(docker.info(), PING_MS, 'info')) as Record<string, unknown>;
    const version = (await withTimeout(docker.version(), PING_MS, 'version')) as unknown as Record<
      string,
      unknown
    >;
    const security = Array.isArray(info.SecurityOptions) ? (info.SecurityOptions as string[]) : [];
    return {
      docker,
      endpoint,
      facts: {
        serverVersion: String(version.Version ?? info.ServerVersion ?? '?'),
        apiVersion: String(version.ApiVersion ?? '?'),
        os: String(info.OperatingSystem ?? '?'),
        kernel: String(info.KernelVersion ?? '?'),
        cgroupVersion: String(info.CgroupVersion ?? '1'),
        securityOptions: security,
        usernsRemap: security.some((s) => s.includes('name=userns')),
        rootless: security.some((s) => s.includes('name=rootless')),
        architecture: String(info.Architecture ?? '?'),
        arch: engineSeccompArch(String(info.Architecture ?? '')),
      },
    };
  } catch (err) {
    throw unavailable(
      endpoint,
      ssh ? sshFailure(err, ssh, endpoint.host) : err instanceof Error ? err.message : String(err),
      (err as NodeJS.ErrnoException | null)?.code,
    );
  }
}

/** The engine, connected once per endpoint; a failed connection is forgotten so a later call tries again. */
export function connectEngine(endpoint: DockerEndpoint | null = findDockerEndpoint()): Promise<Engine> {
  if (!endpoint)
    return Promise.reject(unavailable(null, 'DOCKER_HOST is not set and no engine socket exists'));
  if (current?.host !== endpoint.host) {
    const engine = open(endpoint);
    current = { host: endpoint.host, engine };
    engine.catch(() => {
      if (current?.engine === engine) current = null;
    });
  }
  return current.engine;
}
