// End-to-end: shell_execute on the real server — the same box as the session's Python, the policy in front of it,
// timeouts that kill only the command, working_directory containment, and no server secret inside.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

const SECRET = 'sk-test-do-not-leak-4242';

describe('shell_execute', () => {
  let h: Harness;
  let sessionId: string;
  beforeAll(async () => {
    h = await startStdio({ env: { AWS_SECRET_ACCESS_KEY: SECRET, GITHUB_TOKEN: SECRET } });
    sessionId = (await h.sc('create_session', { name: 'shell' })).session_id;
    const setup = await h.sc('shell_execute', {
      session_id: sessionId,
      command:
        "mkdir -p sub && echo 'hello x' > file.txt && echo 'print(\"from script\")' > script.py && touch sub/a.py",
    });
    expect(setup.exit_code).toBe(0);
  });
  afterAll(async () => {
    await h?.close();
  });

  const sh = (command: string, extra: Record<string, unknown> = {}) =>
    h.call('shell_execute', { session_id: sessionId, command, ...extra });
  const shc = async (command: string, extra: Record<string, unknown> = {}) =>
    (await sh(command, extra)).structuredContent as Record<string, any>;

  describe('everyday commands pass', () => {
    it.each([
      ['cat file.txt', /hello x/],
      ['grep -r x .', /file\.txt:hello x/],
      ['git init -q && git status --short | head -1', /file\.txt|script\.py|sub/],
      ["find . -name '*.py' | sort", /\.\/script\.py\n\.\/sub\/a\.py/],
      ['cd sub && ls', /^a\.py\n$/],
      ['python3 script.py', /from script/],
      ['pip list 2>/dev/null | head -3', /Package/],
    ])('%s', async (command, out) => {
      const r = await sh(command);
      const sc = r.structuredContent as Record<string, any>;
      expect(r.isError ?? false).toBe(false);
      expect(sc.exit_code).toBe(0);
      expect(sc.stdout).toMatch(out);
    });

    it("curl reaches a server the session's own Python started (one network namespace)", async () => {
      const started = await h.sc('execute', {
        session_id: sessionId,
        code:
          'import http.server, threading\n' +
          "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 8000), http.server.SimpleHTTPRequestHandler)\n" +
          'threading.Thread(target=srv.serve_forever, daemon=True).start()',
      });
      expect(started.status).toBe('ok');
      const sc = await shc('curl -s localhost:8000/file.txt');
      expect(sc.exit_code).toBe(0);
      expect(sc.stdout).toBe('hello x\n');
      await h.sc('execute', { session_id: sessionId, code: 'srv.shutdown()' });
    });
  });

  it('shares files with the Python session both ways', async () => {
    await h.sc('execute', { session_id: sessionId, code: "open('from_py.txt', 'w').write('py')" });
    expect((await shc('cat from_py.txt')).stdout).toBe('py');
    await shc('printf sh > from_sh.txt');
    const r = await h.sc('execute', { session_id: sessionId, code: "open('from_sh.txt').read()" });
    expect(r.result['text/plain']).toBe("'sh'");
  });

  it('returns a non-zero exit code as a normal result, stderr apart', async () => {
    const r = await sh('echo out; echo err >&2; exit 3');
    const sc = r.structuredContent as Record<string, any>;
    expect(r.isError ?? false).toBe(false);
    expect(sc).toMatchObject({ status: 'ok', exit_code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(sc.duration_ms).toBeGreaterThan(0);
  });

  it('reports the files a command made', async () => {
    const sc = await shc('echo data > made_by_shell.csv');
    expect(sc.artifacts.created.map((a: { path: string }) => a.path)).toContain('made_by_shell.csv');
  });

  it('caps long output (head and tail) and keeps the whole of it in the workspace', async () => {
    const sc = await shc('seq 1 200000');
    expect(sc.stdout_truncated).toBe(true);
    expect(sc.stdout.startsWith('1\n2\n')).toBe(true);
    expect(sc.stdout.endsWith('199999\n200000\n')).toBe(true);
    expect(sc.full_output.stdout).toMatch(/^\.sandbox\/outputs\/shell-.*\.stdout\.txt$/);
    expect(existsSync(join(h.dataDir, 'sessions', sessionId, 'workspace', sc.full_output.stdout))).toBe(true);
  });

  it('ends `sleep 100` at timeout 1, kills only the command, and the session keeps its state', async () => {
    await h.sc('execute', { session_id: sessionId, code: 'kept = 7' });
    const t0 = Date.now();
    const r = await sh('sleep 100 & sleep 100; echo never', { timeout: 1 });
    const sc = r.structuredContent as Record<string, any>;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.isError).toBe(true);
    expect(sc.status).toBe('timeout');
    expect(sc.error.code).toBe('timeout');
    expect(sc.stdout).not.toContain('never');
    const after = await h.sc('execute', { session_id: sessionId, code: 'kept' });
    expect(after.result['text/plain']).toBe('7');
    // Nothing of the timed-out command is left running in the box.
    const ps = await shc('ps -eo args');
    expect(ps.exit_code).toBe(0);
    expect(ps.stdout).toContain('ps -eo args');
    expect(ps.stdout.split('\n').filter((l: string) => l.startsWith('sleep 100'))).toEqual([]);
  });

  it('returns when the shell exits, while what it left in the background keeps running', async () => {
    // Waiting for the server or the sleeper would end as a timeout, or put `late` in stdout.
    const started = await shc(
      'python3 -m http.server 8001 --bind 127.0.0.1 & echo $! > srv.pid; (sleep 3; echo late) & echo now',
      { timeout: 10 },
    );
    expect(started.status).toBe('ok');
    expect(started.exit_code).toBe(0);
    expect(started.stdout).toBe('now\n');
    const got = await shc(
      'for i in $(seq 50); do curl -sf localhost:8001/file.txt && break; sleep 0.1; done',
    );
    expect(got.stdout).toBe('hello x\n');
    expect((await shc('kill $(cat srv.pid)')).exit_code).toBe(0);
  });

  it("keeps what a command left in the background through a cell's timeout, interrupted or killed", async () => {
    const bg = await shc('sleep 300 > /dev/null 2>&1 & echo $!');
    const pid = Number(bg.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    const alive = async () => (await shc(`kill -0 ${pid} && echo alive`)).stdout;
    // Interrupted, the kernel survives and the cell's strays are swept; then a cell that ignores the interrupt.
    const interrupted = await h.sc('execute', {
      session_id: sessionId,
      code: 'while True: pass',
      timeout: 1,
    });
    expect(interrupted.status).toBe('timeout');
    expect(await alive()).toBe('alive\n');
    const killed = await h.sc('execute', {
      session_id: sessionId,
      code: 'import signal, subprocess\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsubprocess.Popen(["sleep", "301"])\nwhile True: pass',
      timeout: 1,
    });
    expect(killed.status).toBe('timeout');
    expect(killed.state_preserved).toBe(false);
    expect(await alive()).toBe('alive\n');
    // What the cell itself started is gone.
    const ps = await shc('ps -eo args');
    expect(ps.stdout.split('\n').filter((l: string) => l.startsWith('sleep 301'))).toEqual([]);
    expect((await shc(`kill ${pid}`)).exit_code).toBe(0);
  });

  it('queues behind a running execute of the same session', async () => {
    const slow = h.sc('execute', {
      session_id: sessionId,
      code: "import time\ntime.sleep(1)\nopen('queued.txt', 'w').write('done')",
    });
    const shell = shc('cat queued.txt');
    const [, sc] = await Promise.all([slow, shell]);
    expect(sc.stdout).toBe('done');
  });

  describe('working_directory', () => {
    it('runs in a folder of the workspace, relative or absolute', async () => {
      expect((await shc('pwd', { working_directory: 'sub' })).stdout).toBe('/workspace/sub\n');
      expect((await shc('pwd', { working_directory: '/workspace/sub' })).stdout).toBe('/workspace/sub\n');
      expect((await shc('pwd')).stdout).toBe('/workspace\n');
    });

    it.each(['..', '../x', 'sub/../..', '/etc', '/', '/workspace/../etc', '/workspacex'])(
      'refuses %s as invalid_argument',
      async (dir) => {
        const r = await sh('pwd', { working_directory: dir });
        expect(r.isError).toBe(true);
        expect(errorOf(r).code).toBe('invalid_argument');
      },
    );

    it('refuses a symbolic link that leads out of the workspace', async () => {
      await shc('ln -sfn /etc escape');
      const r = await sh('pwd', { working_directory: 'escape' });
      expect(r.isError).toBe(true);
      expect(errorOf(r).code).toBe('invalid_argument');
    });

    it('says when the folder does not exist', async () => {
      const r = await sh('pwd', { working_directory: 'nope' });
      expect(errorOf(r).code).toBe('not_found');
    });
  });

  it('shows no variable of the server environment inside', async () => {
    const sc = await shc('env');
    expect(sc.stdout).not.toContain(SECRET);
    expect(sc.stdout).not.toMatch(/AWS_SECRET_ACCESS_KEY|GITHUB_TOKEN/);
    expect(sc.stdout).toMatch(/^HOME=\/workspace$/m);
    const py = await h.sc('execute', {
      session_id: sessionId,
      code: "import os\n'AWS_SECRET_ACCESS_KEY' in os.environ",
    });
    expect(py.result['text/plain']).toBe('False');
  });

  describe('policy', () => {
    it.each([
      ['pipeline', 'ls | mount /dev/sda /mnt', 'mount'],
      ['$(...)', 'echo $(umount /mnt)', 'umount'],
      ['backticks', 'echo `reboot`', 'power'],
      ['sh -c', "sh -c 'insmod evil.ko'", 'kernel-modules'],
      ['env prefix', 'FOO=1 sudo id', 'privilege-escalation'],
      ['redirect', 'echo x > /dev/sda', 'device-write'],
      ['kill pid 1', 'kill -9 1', 'kill-outside-session'],
    ])('denies through %s, naming the rule, and runs nothing', async (_how, command, rule) => {
      const marker = `ran-${rule}.txt`;
      const r = await sh(`touch ${marker}; ${command}`);
      const err = errorOf(r);
      expect(r.isError).toBe(true);
      expect(err.code).toBe('policy_denied');
      expect(err.details.rule.id).toBe(rule);
      expect(err.details.rule.description).toBeTruthy();
      expect(err.details.command).toBeTruthy();
      expect(existsSync(join(h.dataDir, 'sessions', sessionId, 'workspace', marker))).toBe(false);
    });

    it.each([
      ['a mode spelled with =', 'chmod =4755 file.txt', 'chmod-setuid', /chmod 755/],
      ['a line continuation', 'un\\\nshare -U true', 'namespace-escape', /namespaces of its own/],
      ['a script piped into sh', 'cat script.py | sh', 'unverifiable-script', /unverifiable-script/],
    ])('denies %s, naming the rule and its hint', async (_how, command, rule, hint) => {
      const r = await sh(`touch respelled.txt; ${command}`);
      const err = errorOf(r);
      expect(r.isError).toBe(true);
      expect(err.code).toBe('policy_denied');
      expect(err.details.rule.id).toBe(rule);
      expect(err.hint).toMatch(hint);
      expect(err.message).toContain(`policy rule '${rule}'`);
      expect(existsSync(join(h.dataDir, 'sessions', sessionId, 'workspace', 'respelled.txt'))).toBe(false);
    });

    it('answers a command that does not parse with invalid_argument and the parser message', async () => {
      const r = await sh('echo $(');
      const err = errorOf(r);
      expect(err.code).toBe('invalid_argument');
      expect(err.message).toMatch(/could not be parsed: syntax error at line 1/);
    });
  });

  it('logs executes, shell commands and denials in the audit log', async () => {
    const own = await h.sc('create_session', { name: 'audited' });
    const id = own.session_id as string;
    await h.sc('execute', { session_id: id, code: 'a = 1' });
    await h.sc('shell_execute', { session_id: id, command: 'true' });
    await h.call('shell_execute', { session_id: id, command: 'halt' });
    const log = await h.sc('get_audit_log', { session_id: id });
    const kinds = log.entries.map((e: { kind: string }) => e.kind);
    expect(kinds).toEqual(['policy_denied', 'shell', 'execute']);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(log.entries[0]).toMatchObject({
      sha256: sha('halt'),
      status: 'denied',
      detail: { rule: 'power' },
    });
    expect(log.entries[1]).toMatchObject({ sha256: sha('true'), status: 'ok' });
    expect(log.entries[1].duration_ms).toBeGreaterThan(0);
    expect(log.entries[2]).toMatchObject({ sha256: sha('a = 1'), status: 'ok' });
    const all = await h.sc('get_audit_log', { limit: 1000 });
    expect(all.entries.some((e: { session_id: string }) => e.session_id === sessionId)).toBe(true);
    const other = await h.call('get_audit_log', { session_id: 's_notmine0000000000000000' });
    expect(errorOf(other).code).toBe('not_found');
  });
});
