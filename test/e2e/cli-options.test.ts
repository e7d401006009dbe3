// End-to-end: command-line options reach the command they are written after (stdio, serve, doctor).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { toolsForProfile } from '../../src/server/registry.js';
import { CLI, startHttp, startStdio } from './harness.js';

const core = toolsForProfile(loadConfig({ dataDir: '/nonexistent' }, {}), 'core').map((t) => t.name);

describe('command-line options', () => {
  it('--tools core serves the core profile over stdio and over HTTP (written after `serve`)', async () => {
    expect(core.length).toBeGreaterThan(5);
    for (const start of [startStdio, startHttp]) {
      const h = await start({ args: ['--tools', 'core'] });
      try {
        const names = (await h.client.listTools()).tools.map((t) => t.name).sort();
        expect(names).toEqual([...core].sort());
      } finally {
        await h.close();
      }
    }
  });

  it('doctor checks the interpreter given after `doctor`', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI,
      'doctor',
      '--python',
      '/nonexistent/python3',
      '--json',
    ]).catch((err: { stdout: string }) => err);
    expect(JSON.parse(stdout).python).toBe('/nonexistent/python3');
  });
});
