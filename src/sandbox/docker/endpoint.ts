// Where the Docker engine is (DOCKER_HOST, else the usual sockets of Docker, Docker Desktop, OrbStack, Colima and
// Podman), and which box backend `--isolation auto` settles on; synchronous, so the configuration can decide.
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type BoxBackendName = 'bwrap' | 'docker';

export interface DockerEndpoint {
  /** As DOCKER_HOST spells it: unix:///path, tcp://host:port or ssh://user@host. */
  host: string;
  /** The engine shares this machine's files (a unix socket): workspaces are bind mounts. */
  local: boolean;
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** The sockets engines listen on when DOCKER_HOST is not set, in the order they are tried. */
export function candidateSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  const runtime = env.XDG_RUNTIME_DIR;
  return [
    '/var/run/docker.sock',
    join(home, '.docker', 'run', 'docker.sock'), // Docker Desktop
    join(home, '.orbstack', 'run', 'docker.sock'),
    join(home, '.colima', 'default', 'docker.sock'),
    ...(runtime ? [join(runtime, 'docker.sock'), join(runtime, 'podman', 'podman.sock')] : []),
    '/run/podman/podman.sock',
  ];
}

/** The engine to use, or null when none is configured or found. An explicit DOCKER_HOST always wins. */
export function findDockerEndpoint(env: NodeJS.ProcessEnv = process.env): DockerEndpoint | null {
  const configured = env.DOCKER_HOST?.trim();
  if (configured) return { host: configured, local: configured.startsWith('unix://') };
  for (const path of candidateSockets(env))
    if (isSocket(path)) return { host: `unix://${path}`, local: true };
  return null;
}

/**
 * How a box's /workspace reaches the engine (`--docker-workspace`): `bind` mounts the host folder, which needs an
 * engine sharing this machine's files; `volume` keeps a volume in step through the Engine API (workspace-sync.ts),
 * which works anywhere; `auto` takes bind for a unix-socket engine and volume for tcp:// and ssh://.
 */
export function workspaceMode(
  asked: 'auto' | 'bind' | 'volume',
  endpoint: DockerEndpoint,
): 'bind' | 'volume' {
  if (asked !== 'auto') return asked;
  return endpoint.local ? 'bind' : 'volume';
}

/**
 * `auto`: bubblewrap where its binary is, else a Docker engine when one is configured or found (whether it answers
 * is checked when the first box starts), else bubblewrap, which then refuses with isolation_unavailable as before.
 */
export function resolveBackend(
  asked: 'auto' | BoxBackendName,
  bwrapPath: string,
  env: NodeJS.ProcessEnv = process.env,
): BoxBackendName {
  if (asked !== 'auto') return asked;
  if (existsSync(bwrapPath)) return 'bwrap';
  return findDockerEndpoint(env) ? 'docker' : 'bwrap';
}
