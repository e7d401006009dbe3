// End-to-end: the real server over stdio and HTTP, the SDK's Client, real Python in the test backend's boxes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, errorOf, start, type Era, type Harness, type TransportKind } from './harness.js';

const variants: Array<[TransportKind, Era]> = [
  ['stdio', '2025'],
  ['stdio', '2026'],
  ['http', '2025'],
  ['http', '2026'],
];

describe.each(variants)('execute over %s, protocol era %s', (kind, era) => {
  let h: Harness;
  beforeAll(async () => {
    h = await start(kind, { era });
  });

  it('negotiates the protocol era', () => {
    expect(h.client.getNegotiatedProtocolVersion()).toBe(era === '2026' ? '2026-07-28' : '2025-11-25');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists the foundation tools with schemas', async () => {
    const { tools } = await h.client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of [
      'execute',
      'execute_with_artifacts',
      'create_session',
      'list_sessions',
      'close_session',
      'get_execution_info',
    ]) {
      expect(names).toContain(n);
    }
    const exec = tools.find((t) => t.name === 'execute')!;
    expect(exec.outputSchema).toBeTruthy();
    expect(exec.inputSchema.properties).toHaveProperty('code');
  });

  it('keeps variables, functions and imports between calls', async () => {
    await h.sc('execute', { code: 'x = 1\nimport math\ndef sq(v):\n    return v * v' });
    await h.sc('execute', { code: 'x += 1' });
    const r = await h.sc('execute', { code: 'sq(x) + math.floor(2.5)' });
    expect(r.status).toBe('ok');
    expect(r.result['text/plain']).toBe('6');
    expect(r.execution_count).toBeGreaterThanOrEqual(3);
    expect(r.isolation).toBe(TEST_BACKEND);
  });

  it('captures stdout and stderr separately', async () => {
    const r = await h.sc('execute', { code: 'import sys\nprint("out")\nprint("err", file=sys.stderr)' });
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
  });

  it('reports a syntax error with line and column', async () => {
    const res = await h.call('execute', { code: 'x = 1\ny = = 2\n' });
    expect(res.isError).toBe(true);
    const sc = res.structuredContent as Record<string, any>;
    expect(sc.error.code).toBe('syntax_error');
    expect(sc.error.details.line).toBe(2);
    expect(typeof sc.error.details.column).toBe('number');
  });

  it('tells truncated code from a syntax error', async () => {
    for (const code of ['print("abc', 'def f():', 'x = [1,\n2,']) {
      const sc = (await h.call('execute', { code })).structuredContent as Record<string, any>;
      expect(sc.error.code, code).toBe('truncated_code');
    }
  });

  it('reports a missing module as import_error with a hint', async () => {
    const res = await h.call('execute', { code: 'import no_such_module_xyz' });
    const sc = res.structuredContent as Record<string, any>;
    expect(res.isError).toBe(true);
    expect(sc.error.code).toBe('import_error');
    expect(sc.error.details.module).toBe('no_such_module_xyz');
    expect(sc.error.hint).toContain('install_package');
  });

  it('reports a runtime error with a traceback trimmed to the cell', async () => {
    const res = await h.call('execute', { code: 'def boom():\n    return 1 / 0\n\nboom()' });
    const sc = res.structuredContent as Record<string, any>;
    expect(sc.error.code).toBe('runtime_error');
    expect(sc.error.details.ename).toBe('ZeroDivisionError');
    const tb = (sc.error.details.traceback as string[]).join('');
    expect(tb).toContain('1 / 0');
    expect(tb).not.toContain('kernel.py');
  });

  it('answers not_found for an unknown session id', async () => {
    const res = await h.call('execute', { code: '1', session_id: 's_doesnotexistdoesnotexis' });
    expect(res.isError).toBe(true);
    expect(errorOf(res).code).toBe('not_found');
  });

  it('creates, lists and closes sessions with separate namespaces', async () => {
    const a = await h.sc('create_session', { name: 'a' });
    const b = await h.sc('create_session', { name: 'b', timeout_s: 5, memory_mb: 512 });
    expect(a.session_id).not.toBe(b.session_id);
    expect(b.memory_mb).toBe(512);
    await h.sc('execute', { code: 'v = "in a"', session_id: a.session_id });
    const rb = await h.call('execute', { code: 'v', session_id: b.session_id });
    expect(errorOf(rb).details.ename).toBe('NameError');
    const list = await h.sc('list_sessions');
    const ids = (list.sessions as any[]).map((s) => s.session_id);
    expect(ids).toEqual(expect.arrayContaining([a.session_id, b.session_id]));
    expect(list.idle_ttl_s).toBeGreaterThan(0);
    await h.sc('close_session', { session_id: b.session_id });
    const after = await h.call('execute', { code: '1', session_id: b.session_id });
    expect(errorOf(after).code).toBe('not_found');
  });

  it('returns environment info', async () => {
    const r = await h.sc('get_execution_info', {});
    expect(r.python.python_executable).toBe('/usr/bin/python3');
    expect(r.python.cwd).toBe('/workspace');
    expect(Array.isArray(r.python.sys_path)).toBe(true);
    expect(r.limits.memory_mb).toBe(1024);
    expect(r.limits.pids).toBe(256);
    expect(r.isolation.mechanism).toBe(TEST_BACKEND);
    expect(r.isolation.memory_limit).toBe('cgroup');
  });
});
