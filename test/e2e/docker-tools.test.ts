// End-to-end: the tools beyond execute on the Docker backend (`--isolation docker`, a real engine from
// scripts/test-docker-engine.sh) where the checks differ from bubblewrap's: the shell policy in front of the
// container, a session's box started again under the same container name, install_package of a wheel from the
// workspace. Backups, packages from an index and web apps run on Docker in their own files (npm run test:docker).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';
import { buildLocalWheel } from './local-wheel.js';

const { engine, skip } = engineForFile('docker-tools');

describe.skipIf(skip !== null)('the tools on the Docker backend', () => {
  let h: Harness;
  let sid: string;
  let work: string;
  beforeAll(async () => {
    // the box image is built (or found) before any call with a client-side timeout
    prepareBoxImage(CLI, engineEnv(engine));
    work = mkdtempSync(join(tmpdir(), 'sbx-docker-tools-'));
    h = await startStdio({
      args: ['--isolation', 'docker', '--memory-mb', '512', '--allow-package-urls'],
      // no index at all: the wheel comes from the workspace
      env: { ...engineEnv(engine), PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1' },
    });
    sid = (await h.sc('create_session', {})).session_id;
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('applies the shell policy in front of the container: a denied command never runs', async () => {
    const r = await h.call('shell_execute', {
      session_id: sid,
      command: 'touch ran-mount.txt; ls | mount /dev/sda /mnt',
    });
    expect(r.isError).toBe(true);
    expect(errorOf(r).code).toBe('policy_denied');
    expect(errorOf(r).details.rule.id).toBe('mount');
    const ls = await h.sc('shell_execute', { session_id: sid, command: 'ls ran-mount.txt || echo absent' });
    expect(ls.stdout).toContain('absent');
  });

  it("starts a session's next box at once when its last one ended, under the same container name", async () => {
    const s = (await h.sc('create_session', {})).session_id;
    for (let i = 0; i < 5; i++) {
      // the agent ends, so does the container; a call may still meet the dying box (and say its kernel was killed),
      // then the next one starts the session's box again
      await h.call('execute', {
        session_id: s,
        code: 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)',
      });
      const seen: string[] = [];
      for (let tries = 0; tries < 3 && !seen.includes('42'); tries++) {
        const res = await h.call('execute', { session_id: s, code: '6 * 7' });
        const sc = res.structuredContent as Record<string, any> | undefined;
        seen.push(sc?.result?.['text/plain'] ?? JSON.stringify(sc?.error ?? errorOf(res)).slice(0, 600));
      }
      expect(seen.filter((x) => x.includes('"internal"'))).toEqual([]);
      expect(seen.at(-1)).toBe('42');
    }
  });

  it('installs a wheel from a workspace folder into the venv, and the package imports', async () => {
    const wheel = buildLocalWheel(work, 'sbx_docker_pkg');
    await h.sc('write_file', {
      session_id: sid,
      path: `wheels/${wheel.name}`,
      base64: wheel.bytes.toString('base64'),
    });
    const res = await h.call('install_package', { session_id: sid, package: `./wheels/${wheel.name}` });
    expect(res.isError, JSON.stringify(res.content).slice(0, 2000)).toBeFalsy();
    const r = res.structuredContent as Record<string, any>;
    // a path names no distribution, so the result cannot say which one it installed; the import below does
    expect(r.python_restarted).toBe(true);
    expect(r.venv).toBe('/workspace/.venv');
    const run = await h.sc('execute', {
      session_id: sid,
      code: 'import sys, sbx_docker_pkg\n(sys.prefix, sbx_docker_pkg.VALUE)',
    });
    expect(run.isolation).toBe('docker');
    expect(run.result['text/plain']).toBe("('/workspace/.venv', 42)");
  });
});
