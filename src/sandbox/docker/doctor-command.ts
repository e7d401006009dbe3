// The `doctor` command across backends: the bubblewrap report, the Docker section, or both (`--isolation auto` checks
// each backend that is present); the exit status follows the backend a server would use and any asked for by name.
import { existsSync } from 'node:fs';
import { formatDoctorReport, runDoctor, type DoctorReport } from '../doctor.js';
import { dockerInstance } from './backend.js';
import { formatDockerDoctor, runDockerDoctor, type DockerDoctorReport } from './doctor.js';
import { findDockerEndpoint, resolveBackend } from './endpoint.js';

export interface DoctorFlags {
  python: string;
  bwrap: string;
  isolation: 'auto' | 'bwrap' | 'docker';
  dockerImage: string | undefined;
  dockerBaseImage: string;
  agentDir: string;
}

export interface DoctorOutcome {
  text: string;
  json: (DoctorReport | { bwrap: null }) & { docker?: DockerDoctorReport };
  ok: boolean;
}

export async function doctorCommand(
  f: DoctorFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DoctorOutcome> {
  const endpoint = findDockerEndpoint(env);
  const chosen = resolveBackend(f.isolation, f.bwrap, env);
  const checkBwrap =
    f.isolation === 'bwrap' || (f.isolation === 'auto' && (existsSync(f.bwrap) || !endpoint));
  const checkDocker = f.isolation === 'docker' || (f.isolation === 'auto' && endpoint !== null);
  const bwrap = checkBwrap
    ? await runDoctor({ bwrapPath: f.bwrap, python: f.python, agentDir: f.agentDir })
    : null;
  const docker = checkDocker
    ? await runDockerDoctor(
        {
          endpoint,
          image: f.dockerImage,
          baseImage: f.dockerBaseImage,
          instance: dockerInstance(`doctor-${process.pid}`),
          progress: (line) => process.stderr.write(`docker build: ${line}\n`),
        },
        f.agentDir,
      )
    : null;
  const text = [bwrap ? formatDoctorReport(bwrap) : null, docker ? formatDockerDoctor(docker) : null]
    .filter((t): t is string => t !== null)
    .join('\n\n');
  const okBwrap = bwrap ? bwrap.allEnforced : true;
  const okDocker = docker ? docker.allEnforced : true;
  // auto with both present: the backend a server would take decides; a backend named by the flag always counts
  const ok = f.isolation === 'auto' ? (chosen === 'docker' ? okDocker : okBwrap) : okBwrap && okDocker;
  const json = { ...(bwrap ?? { bwrap: null }), ...(docker ? { docker } : {}) };
  return { text, json, ok };
}
