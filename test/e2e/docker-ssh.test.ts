// End-to-end: the Docker backend on an ssh:// engine (a test sshd on loopback in front of the private engine): code,
// state, plots, files both ways, backups, the shell and doctor through ssh, ~/.ssh/config applied as OpenSSH applies
// it, and ssh failures as clear errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';
import { homeWith, knownLine, logins, startSshEngine, type SshEngine } from './docker-ssh-engine.js';

const { engine: local, skip: noEngine } = engineForFile('docker-ssh');
const ssh = noEngine !== null ? { skip: noEngine } : startSshEngine();
const skip = 'skip' in ssh ? ssh.skip : null;
if (skip && noEngine === null) console.warn(`docker-ssh: skipped, no sshd can run here: ${skip}`);
const engine = ssh as SshEngine;
const home = skip ? '' : homeWith({ file: engine.knownHosts });

/** The server environment for the ssh engine, with the test's HOME (its ~/.ssh/known_hosts) and agent. */
function sshEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    ...engineEnv(local),
    DOCKER_HOST: engine.host,
    SSH_AUTH_SOCK: engine.agent,
    HOME: home,
    ...over,
  };
}

const SERVER_ARGS = ['--isolation', 'docker', '--memory-mb', '512', '--pool-size', '0'];

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('an ssh:// engine', () => {
  let h: Harness;
  beforeAll(async () => {
    prepareBoxImage(CLI, engineEnv(local));
    h = await startStdio({ args: SERVER_ARGS, env: sshEnv() });
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('runs code with state in a box whose workspace is a volume (auto, for a remote engine)', async () => {
    const first = await h.call('execute', { code: 'n = 41' });
    expect(first.isError, JSON.stringify(first.content).slice(0, 800)).toBeFalsy();
    const r = await h.sc('execute', {
      code: [
        'n += 1',
        'src = [l.split()[3] for l in open("/proc/self/mountinfo") if l.split()[4] == "/workspace"][0]',
        '(n, src)',
      ].join('\n'),
    });
    expect(r.isolation).toBe('docker');
    expect(r.result['text/plain']).toMatch(/^\(42, '.*\/volumes\/sandbox-mcp-[^/]+-ws\/_data'\)$/);
  });

  it('write_file reaches the code and what the code writes reaches read_file', async () => {
    await h.sc('write_file', { path: 'in/note.txt', text: 'héllo over ssh' });
    await h.sc('write_file', { path: 'in/blob.bin', base64: Buffer.alloc(300_000, 7).toString('base64') });
    const r = await h.sc('execute', {
      code: [
        'data = open("in/blob.bin", "rb").read()',
        'open("out.txt", "w").write(open("in/note.txt").read().upper())',
        'open("out.bin", "wb").write(bytes(range(256)) * 2000)',
        '(len(data), set(data))',
      ].join('\n'),
    });
    expect(r.result['text/plain']).toBe('(300000, {7})');
    expect((await h.sc('read_file', { path: 'out.txt' })).text).toBe('HÉLLO OVER SSH');
    const bin = await h.sc('read_file', { path: 'out.bin' });
    const page = Buffer.from(bin.base64 as string, 'base64');
    const want = Buffer.from(Array.from({ length: 512_000 }, (_, i) => i % 256));
    expect(bin.size).toBe(512_000);
    expect(page.length).toBeGreaterThan(0);
    expect(page.equals(want.subarray(0, page.length))).toBe(true);
  });

  it('a plot made in the box is an artifact the host reads', async () => {
    const res = await h.call('execute', {
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()',
    });
    expect(res.isError, JSON.stringify(res.content).slice(0, 800)).toBeFalsy();
    const path = JSON.stringify(res.structuredContent).match(/plots\/figure_\d+_1\.png/)?.[0];
    expect(path).toBeDefined();
    const file = await h.sc('read_file', { path: path! });
    expect(Buffer.from(file.base64, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('a rollback restores files the code then sees, and the shell runs in the same workspace', async () => {
    await h.sc('execute', { code: 'open("kept.txt", "w").write("version 1")' });
    await h.sc('backup_current_artifacts', { backup_name: 'v1' });
    await h.sc('execute', {
      code: 'open("kept.txt", "w").write("version 2")\nopen("later.txt", "w").write("x")',
    });
    expect((await h.sc('read_file', { path: 'kept.txt' })).text).toBe('version 2');
    await h.sc('rollback_to_backup', { backup_name: 'v1' });
    const r = await h.sc('execute', {
      code: 'import os\n(open("kept.txt").read(), os.path.exists("later.txt"))',
    });
    expect(r.result['text/plain']).toBe("('version 1', False)");
    const sh = await h.sc('shell_execute', {
      command: 'cat kept.txt && echo made-by-shell > sh.txt && id -u',
    });
    expect(sh.exit_code).toBe(0);
    expect(sh.stdout).toMatch(/^version 1\d+\n?$/);
    expect((await h.sc('read_file', { path: 'sh.txt' })).text).toBe('made-by-shell\n');
  });

  it('Engine API requests reuse their ssh connections: a new box and its calls log in a few times, not per request', async () => {
    const before = logins(engine);
    const sid = (await h.sc('create_session', {})).session_id as string;
    await h.sc('write_file', { session_id: sid, path: 'a.txt', text: 'a' });
    for (let i = 0; i < 3; i++) {
      const r = await h.sc('execute', { session_id: sid, code: `open("a.txt").read() * ${i + 1}` });
      expect(r.result['text/plain']).toBe(`'${'a'.repeat(i + 1)}'`);
    }
    await h.sc('close_session', { session_id: sid });
    // one login per request was 30 here; a few more than one or two come from requests that overlap (the pool's
    // refill beside the session's own box) on a loaded machine, each needing a channel of its own
    expect(logins(engine) - before).toBeLessThanOrEqual(6);
  });

  it('doctor through ssh starts a real box and reports every protection enforced', () => {
    const out = execFileSync(process.execPath, [CLI, 'doctor', '--isolation', 'docker', '--json'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...sshEnv() },
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const docker = (JSON.parse(out) as { docker: Record<string, any> }).docker;
    expect(docker.endpoint).toBe(engine.host);
    expect(docker.available, docker.error).toBe(true);
    const names = (docker.protections as { name: string; enforced: boolean }[]).map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'memory_limit',
        'network_off',
        'no_capabilities',
        'seccomp',
        'no_setuid',
        'non_root_user',
      ]),
    );
    expect(docker.allEnforced).toBe(true);
    expect((docker.notes as string[]).join('\n')).toContain('workspaces are volumes kept in step');
  });
});

/** A server on the ssh engine with the given HOME and agent, and the error of its first execute, timed. */
async function firstError(env: Record<string, string>): Promise<{ error: Record<string, any>; ms: number }> {
  const s = await startStdio({ args: SERVER_ARGS, env });
  try {
    const t0 = Date.now();
    const res = await s.call('execute', { code: '1' });
    const ms = Date.now() - t0;
    expect(res.isError, JSON.stringify(res.content).slice(0, 400)).toBe(true);
    return { error: errorOf(res), ms };
  } finally {
    await s.close();
  }
}

describe.skipIf(skip !== null)('ssh failures reach the client as clear errors', () => {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  it('an sshd whose host key is not in known_hosts is refused, naming the key (no silent trust)', async () => {
    const empty = homeWith();
    made.push(empty);
    const { error, ms } = await firstError(sshEnv({ HOME: empty }));
    expect(error.code).toBe('isolation_unavailable');
    const key = knownLine(engine).split(' ')[2]!;
    const fp = execFileSync('ssh-keygen', ['-l', '-f', engine.knownHosts], { encoding: 'utf8' }).split(
      ' ',
    )[1]!;
    expect(key.length).toBeGreaterThan(40);
    expect(error.message).toContain(
      `the host key of [127.0.0.1]:${engine.port} (ssh-ed25519 ${fp}) is not known`,
    );
    expect(error.message).toContain(join(empty, '.ssh', 'known_hosts'));
    expect(error.details.docker_host).toBe(engine.host);
    expect(ms).toBeLessThan(15_000);
  });

  it('an sshd answering with another key than known_hosts holds (a man in the middle) is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-ssh-other-'));
    made.push(dir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const other = readFileSync(join(dir, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const wrong = homeWith({ text: `[127.0.0.1]:${engine.port} ${other}\n` });
    made.push(wrong);
    const { error, ms } = await firstError(sshEnv({ HOME: wrong }));
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toMatch(/is not the one known for it in .*known_hosts:1: .*man-in-the-middle/);
    expect(ms).toBeLessThan(15_000);
  });

  it('a key the sshd does not take is named as refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-ssh-agent-'));
    made.push(dir);
    const sock = join(dir, 'agent.sock');
    const started = spawnSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started.stdout)?.[1]);
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'stranger')]);
      execFileSync('ssh-add', ['-q', join(dir, 'stranger')], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
      });
      const { error, ms } = await firstError(sshEnv({ SSH_AUTH_SOCK: sock }));
      expect(error.code).toBe('isolation_unavailable');
      expect(error.message).toContain(`refused every key the SSH agent at ${sock} offered for user root`);
      expect(ms).toBeLessThan(15_000);
    } finally {
      if (pid > 0) process.kill(pid);
    }
  });

  it('no SSH agent is named as the cause', async () => {
    const env = sshEnv();
    delete env.SSH_AUTH_SOCK;
    const { error, ms } = await firstError(env);
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toContain('SSH_AUTH_SOCK is not set');
    expect(error.hint).toContain('known_hosts');
    expect(ms).toBeLessThan(15_000);
  });
});

/** A HOME whose ~/.ssh/config is `config` (and ~/.ssh/known_hosts as `homeWith` makes it). */
function homeWithConfig(config: string, knownHosts?: { file: string } | { text: string }): string {
  const dir = homeWith(knownHosts);
  writeFileSync(join(dir, '.ssh', 'config'), config, { mode: 0o600 });
  return dir;
}

/** A server with this environment runs a cell through the ssh engine. */
async function runsCode(env: Record<string, string>): Promise<void> {
  const s = await startStdio({ args: SERVER_ARGS, env });
  try {
    const r = await s.call('execute', { code: '6 * 7' });
    expect(r.isError, JSON.stringify(r.content).slice(0, 800)).toBeFalsy();
    expect((r.structuredContent as { result: Record<string, string> }).result['text/plain']).toBe('42');
  } finally {
    await s.close();
  }
}

/** The environment of a server reaching the engine as DOCKER_HOST names it, with `home`, and no agent unless given. */
function configEnv(dockerHost: string, home: string, agent?: string): Record<string, string> {
  const env = sshEnv({ DOCKER_HOST: dockerHost, HOME: home });
  if (agent) env.SSH_AUTH_SOCK = agent;
  else delete env.SSH_AUTH_SOCK;
  return env;
}

describe.skipIf(skip !== null)('an ssh:// engine through ~/.ssh/config', () => {
  const made: string[] = [];
  beforeAll(() => prepareBoxImage(CLI, engineEnv(local)), 25 * 60_000);
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  /** `Host sandbox-alias` standing for the test sshd, with this IdentityFile (6 lines; a 7th added is line 7). */
  const alias = (identityFile = engine.identityFile) =>
    [
      'Host sandbox-alias',
      '  HostName 127.0.0.1',
      `  Port ${engine.port}`,
      '  User root',
      `  IdentityFile ${identityFile}`,
      '  IdentitiesOnly yes',
      '',
    ].join('\n');
  const home = (
    config: string,
    knownHosts: { file: string } | { text: string } = { file: engine.knownHosts },
  ) => {
    const dir = homeWithConfig(config, knownHosts);
    made.push(dir);
    return dir;
  };
  /** A new key file in a folder of its own: a copy of the sshd's key, or a fresh one, with this passphrase. */
  const keyFile = (passphrase: string, copyOfEngineKey: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-ssh-key-'));
    made.push(dir);
    const path = join(dir, 'key');
    if (copyOfEngineKey) {
      copyFileSync(engine.identityFile, path);
      execFileSync('ssh-keygen', ['-q', '-p', '-N', passphrase, '-f', path]);
    } else execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', path]);
    return path;
  };

  it('a Host alias with HostName, Port, User and an IdentityFile runs code without an SSH agent', async () => {
    await runsCode(configEnv('ssh://sandbox-alias', home(alias())));
  });

  it('HostKeyAlias names the host key in known_hosts', async () => {
    const key = knownLine(engine).split(' ').slice(1).join(' ');
    const dir = home(`${alias()}  HostKeyAlias engine-key\n`, { text: `engine-key ${key}\n` });
    await runsCode(configEnv('ssh://sandbox-alias', dir));
  });

  it('a UserKnownHostsFile holding the key is used while ~/.ssh/known_hosts lacks it', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'sandbox-mcp-ssh-kh-'));
    made.push(elsewhere);
    copyFileSync(engine.knownHosts, join(elsewhere, 'engines'));
    const dir = home(
      `Host 127.0.0.1\n  UserKnownHostsFile ${join(elsewhere, 'engines')}\n  GlobalKnownHostsFile none\n`,
      { text: '' },
    );
    await runsCode(configEnv(engine.host, dir, engine.agent));
  });

  it('a ProxyJump alias is refused naming the directive, never connected directly', async () => {
    const dir = home(`${alias()}  ProxyJump bastion.example\n`);
    const before = logins(engine);
    const { error, ms } = await firstError(configEnv('ssh://sandbox-alias', dir, engine.agent));
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toContain(`ProxyJump bastion.example (${join(dir, '.ssh', 'config')}:7)`);
    expect(error.message).toContain('does not connect directly');
    expect(logins(engine)).toBe(before);
    expect(ms).toBeLessThan(15_000);
  });

  it('StrictHostKeyChecking no does not let an unknown host key through', async () => {
    const dir = home(`${alias()}  StrictHostKeyChecking no\n`, { text: '' });
    const { error } = await firstError(configEnv('ssh://sandbox-alias', dir));
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toContain(`the host key of [127.0.0.1]:${engine.port}`);
    expect(error.message).toContain('is not known');
    expect(error.message).toContain(
      `the server requires a known host key and does not follow StrictHostKeyChecking no (${join(dir, '.ssh', 'config')}:7)`,
    );
  });

  it('an encrypted IdentityFile counts when the agent holds its key (IdentitiesOnly offers only that one)', async () => {
    const dir = home(alias(keyFile('a passphrase', true)));
    await runsCode(configEnv('ssh://sandbox-alias', dir, engine.agent));
  });

  it("IdentitiesOnly keeps the agent's other keys back: an encrypted IdentityFile it lacks is named", async () => {
    const locked = keyFile('a passphrase', false);
    const { error, ms } = await firstError(
      configEnv('ssh://sandbox-alias', home(alias(locked)), engine.agent),
    );
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toContain(
      `refused every key the SSH agent at ${engine.agent} (its IdentityFile keys only: IdentitiesOnly) offered for user root`,
    );
    expect(error.message).toContain(
      `the key file ${locked} is encrypted and the SSH agent does not hold it: add it to ssh-agent (\`ssh-add ${locked}\`)`,
    );
    expect(ms).toBeLessThan(15_000);
  });

  it('an encrypted IdentityFile with no agent is named, with ssh-add as the way', async () => {
    const locked = keyFile('a passphrase', false);
    const { error, ms } = await firstError(configEnv('ssh://sandbox-alias', home(alias(locked))));
    expect(error.code).toBe('isolation_unavailable');
    expect(error.message).toContain(`the key file ${locked} is encrypted and no SSH agent holds it`);
    expect(error.message).toContain(`ssh-add ${locked}`);
    expect(ms).toBeLessThan(15_000);
  });
});
