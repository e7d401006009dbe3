// The built server as an SDK 1.x stdio transport spawns it (both the current 1.x and 1.12 take these parameters),
// with the suite's options and backend, in a data dir of its own that `remove` deletes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, backend, baseEnv, suiteArgs } from './harness.js';

export interface StdioServer {
  params: { command: string; args: string[]; env: Record<string, string>; stderr: 'pipe' };
  dataDir: string;
  remove(): void;
}

export function stdioServer(env: Record<string, string> = {}): StdioServer {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-stdio-'));
  return {
    params: {
      command: process.execPath,
      args: [CLI, ...suiteArgs(dataDir)],
      env: { ...baseEnv(), ...backend().env, ...env },
      stderr: 'pipe',
    },
    dataDir,
    remove: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}
