// End-to-end: a Docker box cannot leave a setuid or setgid file in its bind-mounted workspace (which would sit on the
// host setuid to the box uid): chmod, create and mkdir with those bits are refused, as seccomp refuses them on
// bubblewrap; doctor's Docker section reports it.
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';

const { engine, skip } = engineForFile('docker-setuid');

// Every way the box could set the bits: chmod, fchmod, chmod by a descriptor's path, open/creat with the mode,
// mkdir with setgid. Each reports what happened; the file stays (0755) when only the mode was refused.
const ATTACK = String.raw`
import os
def attempt(name, fn):
    try:
        fn(); return name + ':done'
    except OSError as e:
        return name + ':' + (e.strerror or str(e))
open('suid-chmod', 'w').write('#!/bin/sh\nid\n')
open('sgid-chmod', 'w').write('x')
open('suid-fchmod', 'w').write('x')
def fchmod():
    fd = os.open('suid-fchmod', os.O_RDONLY)
    try:
        os.fchmod(fd, 0o4755)
    finally:
        os.close(fd)
out = [
    attempt('chmod', lambda: os.chmod('suid-chmod', 0o4755)),
    attempt('chmod-g', lambda: os.chmod('sgid-chmod', 0o2755)),
    attempt('fchmod', fchmod),
    attempt('create', lambda: os.close(os.open('suid-create', os.O_CREAT | os.O_WRONLY, 0o6755))),
    attempt('mkdir', lambda: os.mkdir('sgid-dir', 0o2775)),
]
' '.join(out)
`;

describe.skipIf(skip !== null)('no setuid files from a Docker box', () => {
  let h: Harness;
  beforeAll(async () => {
    prepareBoxImage(CLI, engineEnv(engine));
    h = await startStdio({ args: ['--isolation', 'docker', '--pool-size', '0'], env: engineEnv(engine) });
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('refuses every mode with setuid or setgid bits, so the host never holds such a file', async () => {
    const r = await h.sc('execute', { code: ATTACK });
    expect(r.isolation).toBe('docker');
    const workspace = join(h.dataDir, 'sessions', r.session_id, 'workspace');
    const host = ['suid-chmod', 'sgid-chmod', 'suid-fchmod', 'suid-create', 'sgid-dir']
      .map((f) => {
        try {
          return `${f}:${(lstatSync(join(workspace, f)).mode & 0o7777).toString(8)}`;
        } catch {
          return `${f}:absent`;
        }
      })
      .filter((line) => /:[2-7]\d{3}$/.test(line));
    // the host's view: no file the box made carries a setuid or setgid bit
    expect(host, r.result?.['text/plain']).toEqual([]);
    expect(r.result['text/plain']).not.toContain(':done');
    // ordinary modes still work
    const plain = await h.sc('execute', {
      code: 'import os, stat\nos.chmod("suid-chmod", 0o755)\nos.mkdir("plain-dir", 0o775)\noct(stat.S_IMODE(os.stat("suid-chmod").st_mode))',
    });
    expect(plain.result['text/plain']).toBe("'0o755'");
  });

  it("doctor's Docker section reports the setuid guard from inside a real box", () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--isolation', 'docker', '--json'], {
      env: { ...process.env, ...engineEnv(engine) },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const docker = JSON.parse(r.stdout).docker as {
      protections: Array<{ name: string; enforced: boolean; detail: string }>;
    };
    const row = docker.protections.find((p) => p.name === 'no_setuid');
    expect(row, JSON.stringify(docker.protections)).toBeDefined();
    expect(row!.enforced, row!.detail).toBe(true);
  });
});
