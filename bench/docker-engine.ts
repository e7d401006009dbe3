// The Docker engine the Docker bench measures on: DOCKER_HOST, else the private test engine when it answers
// (scripts/test-docker-engine.sh start), else the usual sockets; and the box image made ready before any timing.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { connectEngine, type Engine } from '../src/sandbox/docker/engine.js';
import { findDockerEndpoint } from '../src/sandbox/docker/endpoint.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TEST_ENGINE = join(ROOT, 'scripts', 'test-docker-engine.sh');
/** The locally debootstrapped base image the test engine holds: nothing is pulled from a registry there. */
const TEST_BASE_IMAGE = 'sandbox-mcp-base:bookworm';

export interface BenchEngine {
  engine: Engine;
  /** What the bench's servers need to reach the engine and find their base image. */
  env: Record<string, string>;
}

/** The test engine's DOCKER_HOST when it answers now (its status check starts nothing). */
function testEngineHost(): string | null {
  const r = spawnSync('bash', [TEST_ENGINE, 'status'], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) return null;
  const root = process.env.SANDBOX_MCP_TEST_DOCKER_ROOT ?? '/var/lib/sandbox-mcp-test-docker';
  return `unix://${join(root, 'docker.sock')}`;
}

/** The engine and the servers' environment, or why there is none (the bench then measures nothing). */
export async function benchEngine(): Promise<BenchEngine | { skip: string }> {
  const env: Record<string, string> = {};
  const test = testEngineHost();
  const host = process.env.DOCKER_HOST?.trim() || test;
  if (host) env.DOCKER_HOST = host;
  // the test engine has no registry to pull the default base from: its local one
  if (host !== null && host === test) env.SANDBOX_MCP_DOCKER_BASE_IMAGE = TEST_BASE_IMAGE;
  for (const k of ['SANDBOX_MCP_DOCKER_BASE_IMAGE', 'SANDBOX_MCP_DOCKER_IMAGE'])
    if (process.env[k]) env[k] = process.env[k]!;
  const endpoint = findDockerEndpoint({ ...process.env, ...env });
  if (!endpoint)
    return {
      skip: 'no Docker engine: set DOCKER_HOST, or start one with `bash scripts/test-docker-engine.sh start`',
    };
  if (env.DOCKER_HOST) process.env.DOCKER_HOST = env.DOCKER_HOST; // dockerode reads it (and its TLS settings)
  try {
    return { engine: await connectEngine(endpoint), env };
  } catch (err) {
    return { skip: err instanceof Error ? err.message : String(err) };
  }
}

/** Builds the box image (or finds it) through doctor, so no timed start includes a build (its verdict is not used). */
export function prepareBoxImage(cli: string, env: Record<string, string>): void {
  spawnSync(process.execPath, [cli, 'doctor', '--isolation', 'docker', '--json'], {
    env: { ...process.env, ...env },
    timeout: 20 * 60_000,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
