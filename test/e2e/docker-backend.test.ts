// End-to-end: the real server with `--isolation docker` against a real Docker engine (started by
// scripts/test-docker-engine.sh), the checks particular to a container: doctor's Docker section, pid 1, files through
// the box, no network, a read-only root, auto isolation, host file ownership, no engine. Limits, plots and the other
// tools run on Docker in their own files (npm run test:docker).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';

const { engine, skip } = engineForFile('docker-backend');
const dockerEnv = (): Record<string, string> => engineEnv(engine);

describe.skipIf(skip !== null)('sessions on the Docker backend', () => {
  let h: Harness;
  beforeAll(async () => {
    // The box image is built on first use (the Python layer is reused from the engine's build cache after a first
    // run); doctor builds it here, before any call with a client-side timeout.
    prepareBoxImage(CLI, dockerEnv());
    h = await startStdio({ args: ['--isolation', 'docker', '--memory-mb', '512'], env: dockerEnv() });
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it("doctor's docker section checks every protection from inside a real box", () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--isolation', 'docker', '--json'], {
      env: { ...process.env, ...dockerEnv() },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const docker = JSON.parse(r.stdout).docker as Record<string, any>;
    expect(docker.available).toBe(true);
    const rows = Object.fromEntries(
      (docker.protections as Array<{ name: string; enforced: boolean }>).map((p) => [p.name, p.enforced]),
    );
    for (const name of [
      'memory_limit',
      'pids_limit',
      'cpu_share',
      'network_off',
      'read_only_root',
      'no_capabilities',
      'no_new_privileges',
      'seccomp',
      'non_root_user',
      'no_setuid',
    ])
      expect(rows[name], name).toBe(true);
    expect(Object.keys(rows)).toContain('userns_remap');
    expect(docker.allEnforced).toBe(true);
  });

  it('runs code in a container whose pid 1 carries the streams, and keeps state between calls', async () => {
    const first = await h.sc('execute', { code: 'x = 41\nimport os\nopen("/proc/1/cmdline").read()' });
    expect(first.isolation).toBe('docker');
    expect(first.result['text/plain']).toContain('/opt/sandbox-agent/docker_init.py');
    const second = await h.sc('execute', { code: 'x + 1' });
    expect(second.result['text/plain']).toBe('42');
    expect(second.state_preserved).toBe(true);
    const who = await h.sc('execute', {
      code: 'import os, socket\n(os.getuid() != 0, socket.gethostname(), os.getcwd())',
    });
    expect(who.result['text/plain']).toBe("(True, 'sandbox', '/workspace')");
  });

  it('moves files both ways between the file tools and the box', async () => {
    await h.sc('write_file', { path: 'in/note.txt', text: 'héllo from the host' });
    const r = await h.sc('execute', {
      code: 'open("in/note.txt").read().upper()',
    });
    expect(r.result['text/plain']).toBe("'HÉLLO FROM THE HOST'");
    await h.sc('execute', { code: 'open("out.csv", "w").write("a,b\\n1,2\\n")' });
    expect((await h.sc('read_file', { path: 'out.csv' })).text).toBe('a,b\n1,2\n');
    const files = await h.sc('list_artifacts', {});
    expect(JSON.stringify(files)).toContain('out.csv');
  });

  it('has no network: only loopback, and connections out fail', async () => {
    const r = await h.sc('execute', {
      code: [
        'import os, socket',
        's = socket.socket()',
        's.settimeout(3)',
        'try:',
        '    s.connect(("1.1.1.1", 80)); out = "connected"',
        'except OSError as e:',
        '    out = type(e).__name__',
        '(sorted(os.listdir("/sys/class/net")), out)',
      ].join('\n'),
    });
    expect(r.result['text/plain']).toMatch(/^\(\['lo'\], '(OSError|TimeoutError|ConnectionRefusedError)'\)$/);
  });

  it('cannot write outside the workspace and /tmp, and has no capabilities', async () => {
    const r = await h.sc('execute', {
      code: [
        'def w(p):',
        '    try:',
        '        open(p, "w").write("x"); return "written"',
        '    except OSError as e:',
        '        return e.strerror',
        'caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]',
        '(w("/usr/x"), w("/etc/x"), w("/opt/sandbox-agent/agent.py"), w("/tmp/x"), caps)',
      ].join('\n'),
    });
    expect(r.result['text/plain']).toBe(
      "('Read-only file system', 'Read-only file system', 'Read-only file system', 'written', '0000000000000000')",
    );
  });

  it('runs shell commands in the same container', async () => {
    await h.sc('execute', { code: 'open("from-python.txt", "w").write("ok")' });
    const r = await h.sc('shell_execute', { command: 'cat from-python.txt; echo; id -u; hostname' });
    expect(r.isolation).toBe('docker');
    expect(r.exit_code).toBe(0);
    const [text, uid, host] = String(r.stdout).trim().split('\n');
    expect(text).toBe('ok');
    expect(Number(uid)).not.toBe(0);
    expect(host).toBe('sandbox');
  });

  it('reports limits with the docker mechanism', async () => {
    const lim = await h.sc('get_sandbox_limitations', {});
    expect(lim.isolation.mode).toBe('docker');
    expect(lim.filesystem.workspace).toBe('/workspace');
  });

  it('--isolation auto takes the Docker engine where bubblewrap is missing', async () => {
    const auto = await startStdio({
      args: ['--pool-size', '0'],
      env: { ...dockerEnv(), SANDBOX_MCP_BWRAP: '/nonexistent/bwrap' },
    });
    try {
      const r = await auto.sc('execute', { code: 'open("/proc/1/cmdline").read().split("\\0")[-2]' });
      expect(r.isolation).toBe('docker');
      expect(r.result['text/plain']).toBe("'/opt/sandbox-agent/docker_init.py'");
    } finally {
      await auto.close();
    }
  });

  it('writes workspace files on the host owned by the box uid, never root', async () => {
    await h.sc('execute', { code: 'open("owned.txt", "w").write("x")' });
    const sessions = await h.sc('list_sessions', {});
    const id = (sessions.sessions as Array<{ is_default: boolean; session_id: string }>).find(
      (s) => s.is_default,
    )!.session_id;
    const path = join(h.dataDir, 'sessions', id, 'workspace', 'owned.txt');
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('x');
    const uid = Number(execFileSync('stat', ['-c', '%u', path], { encoding: 'utf8' }).trim());
    expect(uid).not.toBe(0);
  });
});

describe('the Docker backend without an engine', () => {
  it('refuses code with isolation_unavailable naming the engine, never running it unboxed', async () => {
    const h = await startStdio({
      args: ['--isolation', 'docker'],
      env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    });
    try {
      const res = await h.call('execute', { code: '1 + 1' });
      expect(res.isError).toBe(true);
      const err = errorOf(res);
      expect(err.code).toBe('isolation_unavailable');
      expect(err.message).toContain('/nonexistent/docker.sock');
    } finally {
      await h.close();
    }
  });
});
