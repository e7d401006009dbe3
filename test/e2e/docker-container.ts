// A session's box on the Docker test backend: its container (found on the test engine by the session label the server
// gives every box) and the cgroup folders the engine made for it, the Docker equivalent of a bubblewrap box's own.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout } from '../../src/sandbox/cgroups.js';
import { dockerInstance } from '../../src/sandbox/docker/backend.js';
import { BOX_LABEL } from '../../src/sandbox/docker/container-spec.js';
import { backend } from './harness.js';

function docker(args: string[]): string {
  return execFileSync('docker', args, {
    env: { ...process.env, ...backend().env },
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The ids of the containers of the box named `name` (its session id): running ones, or with `all` any state. */
export function containerIds(name: string, all = false): string[] {
  const filter = ['--filter', `label=${BOX_LABEL}.session=${name}`];
  return docker(['ps', '-q', '--no-trunc', ...(all ? ['-a'] : []), ...filter])
    .split('\n')
    .filter(Boolean);
}

/** The ids of every container, in any state, of the boxes of a server on this data dir. */
export function instanceContainers(dataDir: string): string[] {
  const filter = ['--filter', `label=${BOX_LABEL}=${dockerInstance(dataDir)}`];
  return docker(['ps', '-a', '-q', '--no-trunc', ...filter])
    .split('\n')
    .filter(Boolean);
}

/** The host pid of the running container of the box named `name`; null when none runs. */
export function containerPid(name: string): number | null {
  const ids = containerIds(name);
  if (ids.length > 1) throw new Error(`${ids.length} running containers for the box ${name}`);
  if (ids.length === 0) return null;
  try {
    const pid = Number(docker(['inspect', '-f', '{{.State.Pid}}', ids[0]!]).trim());
    return pid > 0 ? pid : null;
  } catch {
    return null; // ended between the listing and the inspect
  }
}

/** The container's cgroup folder for a controller, read from its pid 1's /proc entry; [] when none runs. */
export function containerCgroupDirs(
  name: string,
  controller: 'memory' | 'pids' | 'cpu',
  layout: CgroupLayout | null,
): string[] {
  const pid = layout === null ? null : containerPid(name);
  if (pid === null || layout === null) return [];
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  } catch {
    return [];
  }
  if (layout.version === 2) {
    const path = lines.find((l) => l.startsWith('0::'))?.slice(3);
    return path === undefined ? [] : [join(layout.mount, path)];
  }
  const mount = { memory: layout.memoryMount, pids: layout.pidsMount, cpu: layout.cpuMount }[controller];
  const line = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes(controller));
  return mount === null || line?.[2] === undefined ? [] : [join(mount, line[2])];
}
