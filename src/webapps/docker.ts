// `docker build` for an export, only when a Docker engine answers; otherwise a docker_unavailable error that says how
// to build elsewhere. Never builds implicitly, never pushes, and never runs the image.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError, invalidArgument } from '../errors.js';

export interface BuildResult {
  export_name: string;
  tag: string;
  image_id: string;
  duration_ms: number;
  log_tail: string[];
}

const TAG =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
const LOG_KEEP = 64 * 1024;

export function validateTag(tag: string): string {
  if (tag.length > 200 || !TAG.test(tag)) {
    throw invalidArgument(`'${tag}' is not a valid image tag (lowercase name, optional :tag)`, { tag });
  }
  return tag;
}

interface Run {
  code: number | null;
  output: string;
  error: string | null;
}

function run(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    let output = '';
    let child;
    try {
      child = spawn('docker', args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, DOCKER_CLI_HINTS: 'false' },
      });
    } catch (err) {
      resolve({ code: null, output: '', error: String(err) });
      return;
    }
    const keep = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-LOG_KEEP);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output, error: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, error: code === null ? `timed out after ${timeoutMs / 1000} s` : null });
    });
  });
}

/** null when an engine answers, else why not. */
export async function dockerUnavailableReason(): Promise<string | null> {
  const r = await run(['info', '--format', '{{.ServerVersion}}'], 15_000);
  if (r.code === 0) return null;
  if (r.error && /ENOENT/.test(r.error)) return 'the docker command is not installed';
  const last = r.output.trim().split('\n').filter(Boolean).at(-1);
  return `docker info failed${last ? `: ${last}` : r.error ? `: ${r.error}` : ''}`;
}

export async function dockerBuild(
  exportName: string,
  dir: string,
  tag: string,
  port: number,
  timeoutMs = 20 * 60_000,
): Promise<BuildResult> {
  const reason = await dockerUnavailableReason();
  if (reason !== null) {
    throw new SandboxError(
      'docker_unavailable',
      `no Docker engine answers on this machine (${reason}); the bundle is ready to build elsewhere`,
      { export_name: exportName, path: dir, reason },
      `copy ${dir} to a machine with Docker, then run there: \`docker build -t ${tag} . && docker run --rm -p ${port}:${port} ${tag}\` ` +
        '(or `docker compose up --build`)',
    );
  }
  const tmp = mkdtempSync(join(tmpdir(), 'sandbox-mcp-build-'));
  const iidFile = join(tmp, 'iid');
  const t0 = performance.now();
  try {
    const r = await run(['build', '--tag', tag, '--iidfile', iidFile, dir], timeoutMs);
    const tail = r.output.trimEnd().split('\n').slice(-40);
    if (r.code !== 0) {
      throw new SandboxError('runtime_error', `docker build failed${r.error ? ` (${r.error})` : ''}`, {
        export_name: exportName,
        log_tail: tail,
      });
    }
    return {
      export_name: exportName,
      tag,
      image_id: readFileSync(iidFile, 'utf8').trim(),
      duration_ms: Math.round(performance.now() - t0),
      log_tail: tail,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
