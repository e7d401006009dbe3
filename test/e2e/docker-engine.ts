// The private Docker engine of the Docker e2e tests (scripts/test-docker-engine.sh) and the box image on it: started
// and built once per test file, with the reason to skip when no engine can run on this machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/test-docker-engine.sh');
/** The locally debootstrapped base the script imports: nothing is pulled from a registry. */
export const BASE_IMAGE = 'sandbox-mcp-base:bookworm';

export type Engine = { host: string } | { skip: string };

/** Starts the private engine; the reason to skip when no engine can run on this machine (exit status 3). */
export function startTestEngine(): Engine {
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', timeout: 25 * 60_000 });
  if (r.status === 3) return { skip: r.stderr.trim() };
  if (r.status !== 0)
    throw new Error(`the Docker engine did not start (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { host: line.replace(/^DOCKER_HOST=/, '') };
}

/** The engine for a test file, and why the file is skipped (said once on the console) when none can run here. */
export function engineForFile(file: string): { engine: Engine; skip: string | null } {
  const engine = startTestEngine();
  const skip = 'skip' in engine ? engine.skip : null;
  if (skip) console.warn(`${file}: skipped, no Docker engine can run here: ${skip}`);
  return { engine, skip };
}

/** The server environment that points it at the engine and the local base image. */
export function engineEnv(engine: Engine): Record<string, string> {
  return 'host' in engine ? { DOCKER_HOST: engine.host, SANDBOX_MCP_DOCKER_BASE_IMAGE: BASE_IMAGE } : {};
}

/** Builds the box image (or finds it) through `doctor`, before any call with a client-side timeout. */
export function prepareBoxImage(cli: string, env: Record<string, string>): void {
  execFileSync(process.execPath, [cli, 'doctor', '--isolation', 'docker', '--json'], {
    env: { ...process.env, ...env },
    timeout: 20 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The engine's Unix socket served on loopback TCP, as an engine on another machine would be: its tcp:// address. */
export async function loopbackTcpEngine(engine: Engine): Promise<{ host: string; close: () => void }> {
  const socket = 'host' in engine ? engine.host.replace(/^unix:\/\//, '') : '';
  const server = createServer((c) => {
    const up = createConnection(socket);
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
