// End-to-end: the tools around the shell — clear_cache, get_sandbox_limitations from the live configuration,
// and a policy file given to the server.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';

describe('clear_cache and get_sandbox_limitations', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('clears caches without touching variables, and important_only leaves the namespace and files alone', async () => {
    const { session_id } = await h.sc('create_session', { name: 'caches' });
    const ws = join(h.dataDir, 'sessions', session_id, 'workspace');
    await h.sc('shell_execute', { session_id, command: "printf 'def f():\\n    return 3\\n' > mymod.py" });
    await h.sc('execute', {
      session_id,
      code: "import mymod\nx = 5\ndef boom():\n    raise ValueError('boom')",
    });
    await h.sc('execute', { session_id, code: "'last value'" });
    expect(existsSync(join(ws, '__pycache__'))).toBe(true);

    const cheap = await h.sc('clear_cache', { session_id, important_only: true });
    expect(cheap.important_only).toBe(true);
    expect(cheap.cleared.map((c: { name: string }) => c.name).join('\n')).toMatch(
      /importlib\.invalidate_caches/,
    );
    expect(cheap.cleared.some((c: { name: string }) => /__pycache__|'_'/.test(c.name))).toBe(false);
    expect(existsSync(join(ws, '__pycache__'))).toBe(true);
    expect((await h.sc('execute', { session_id, code: '_' })).result['text/plain']).toBe("'last value'");

    const full = await h.sc('clear_cache', { session_id });
    const pycache = full.cleared.find((c: { name: string }) => c.name.includes('__pycache__'));
    expect(pycache.items).toBeGreaterThanOrEqual(1);
    expect(pycache.bytes).toBeGreaterThan(0);
    expect(full.bytes_freed).toBeGreaterThanOrEqual(pycache.bytes);
    expect(full.rss_before_bytes).toBeGreaterThan(0);
    expect(existsSync(join(ws, '__pycache__'))).toBe(false);
    // Variables and modules survive; so does the source of earlier cells that tracebacks show.
    expect((await h.sc('execute', { session_id, code: 'x + mymod.f()' })).result['text/plain']).toBe('8');
    const err = await h.call('execute', { session_id, code: 'boom()' });
    expect(JSON.stringify(errorOf(err))).toContain("raise ValueError('boom')");
  });

  it('describes the live limits of a session', async () => {
    const { session_id } = await h.sc('create_session', { memory_mb: 512, timeout_s: 30 });
    const info = await h.sc('get_execution_info', { session_id });
    const lim = await h.sc('get_sandbox_limitations', { session_id });
    expect(lim.session_id).toBe(session_id);
    expect(lim.isolation.mode).toBe(info.isolation.mechanism);
    expect(lim.isolation.seccomp).toBe(info.isolation.seccomp);
    const memory = lim.limits.find((l: { name: string }) => l.name === 'memory');
    expect(memory.value).toBe(512);
    expect(memory.enforced_by).toBe(info.isolation.memory_limit);
    expect(lim.limits.find((l: { name: string }) => l.name.startsWith('wall-clock')).value).toBe(30);
    expect(lim.network.policy).toBe('none');
    expect(lim.filesystem.writable).toEqual(expect.arrayContaining(['/workspace', '/tmp']));
    expect(lim.shell.policy_source).toBe('built-in defaults');
    expect(lim.shell.denied.map((d: { id: string }) => d.id)).toEqual(
      expect.arrayContaining(['mount', 'privilege-escalation']),
    );
    expect(lim.cannot.join('\n')).toMatch(/network beyond localhost/);
    expect(lim.cannot.join('\n')).toMatch(/longer than 30 s/);
    expect(lim.python.version).toMatch(/^3\.\d+/);
  });
});

describe('a policy file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-policy-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds rules and disables defaults', async () => {
    const file = join(dir, 'policy.json');
    writeFileSync(
      file,
      JSON.stringify({
        disable: ['killall'],
        rules: [
          { id: 'no-curl', description: 'no downloads in this deployment', programs: ['curl', 'wget'] },
        ],
      }),
    );
    const h = await startStdio({ args: ['--policy-file', file] });
    try {
      const denied = await h.call('shell_execute', { command: 'echo x | curl -s localhost:1' });
      expect(errorOf(denied).details.rule).toMatchObject({
        id: 'no-curl',
        description: 'no downloads in this deployment',
      });
      const allowed = await h.call('shell_execute', {
        command: 'killall -0 nothing-by-this-name 2>/dev/null; true',
      });
      expect(allowed.isError ?? false).toBe(false);
      expect((await h.call('shell_execute', { command: 'mount /dev/sda /mnt' })).isError).toBe(true);
      const lim = await h.sc('get_sandbox_limitations');
      expect(lim.shell.policy_source).toBe(file);
      expect(lim.shell.denied.map((d: { id: string }) => d.id)).toContain('no-curl');
      expect(lim.shell.denied.map((d: { id: string }) => d.id)).not.toContain('killall');
    } finally {
      await h.close();
    }
  });

  it('stops the server at start when it is invalid', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ rules: [{ id: 'x', description: 'bad', programs: ['a'], when: { any_arg: ['('] } }] }),
    );
    const r = spawnSync(process.execPath, [CLI, '--data-dir', join(dir, 'data'), '--policy-file', file], {
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/policy file .*rule 'x': bad regular expression/);
  });
});
