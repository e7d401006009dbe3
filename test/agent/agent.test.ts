// Protocol tests for the in-box agent: runs the real agent.py and kernel.py and checks what comes back.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PY, AgentClient, PYTHON, resultText, streamText, type Reply } from './agent-client.js';

function errorOf(r: Reply) {
  expect(r.final.status).toBe('error');
  const ev = r.events.find((e) => e.type === 'error');
  expect(ev, 'an error event precedes the final').toBeDefined();
  const err = r.final.error;
  if (!err) throw new Error('final.error is empty');
  return err;
}

describe('agent: one long-lived session', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start();
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('prints one ready line with both pids and the python version', () => {
    expect(agent.ready.type).toBe('ready');
    expect(agent.ready.pid).toBeGreaterThan(0);
    expect(agent.ready.kernel_pid).toBeGreaterThan(0);
    expect(agent.ready.kernel_pid).not.toBe(agent.ready.pid);
    expect(agent.ready.python).toMatch(/^3\.\d+\.\d+$/);
    expect(agent.ready.restored).toBe(false);
  });

  it('keeps variables between requests', async () => {
    expect((await agent.execute('x = 1')).final.status).toBe('ok');
    const inc = await agent.execute('x += 1');
    expect(inc.final.status).toBe('ok');
    expect(resultText(inc)).toBeUndefined();
    const r = await agent.execute('x');
    expect(r.final.status).toBe('ok');
    expect(resultText(r)).toBe('2');
    const ev = r.events.find((e) => e.type === 'execute_result');
    expect(ev && ev.type === 'execute_result' ? ev.execution_count : null).toBe(r.final.execution_count);
    expect(r.final.state_preserved).toBe(true);
    expect(r.final.kernel_restarted).toBe(false);
    expect(r.final.usage?.max_rss_kb).toBeGreaterThan(1000);
  });

  it('keeps functions and imports, and shows no value for None or a trailing semicolon', async () => {
    await agent.execute('import math\ndef area(r):\n    return math.pi * r * r');
    expect(resultText(await agent.execute('round(area(2), 3)'))).toBe('12.566');
    expect(resultText(await agent.execute('print("side effect")'))).toBeUndefined();
    expect(resultText(await agent.execute('area(1);'))).toBeUndefined();
  });

  it('reports a syntax error with line and column', async () => {
    const err = errorOf(await agent.execute('a = 1\nb = = 2'));
    expect(err.code).toBe('syntax_error');
    expect(err.line).toBe(2);
    expect(err.column).toBe(5);
    expect(err.excerpt).toBe('b = = 2');
  });

  it('tells truncated code from a real syntax error', async () => {
    const bad = errorOf(await agent.execute('def f(:'));
    expect(bad.code).toBe('syntax_error');
    expect(bad.line).toBe(1);
    expect(bad.column).toBe(7);

    const str = errorOf(await agent.execute('print("abc'));
    expect(str.code).toBe('truncated_code');
    expect(str.reason).toMatch(/string/);

    const block = errorOf(await agent.execute('for i in range(3):'));
    expect(block.code).toBe('truncated_code');
    expect(block.reason).toMatch(/'for' block/);

    const bracket = errorOf(await agent.execute('x = (1,\n2'));
    expect(bracket.code).toBe('truncated_code');
    expect(bracket.line).toBe(1);
    expect(bracket.column).toBe(5);
    expect(bracket.reason).toMatch(/'\(' opened at line 1/);

    // Cut in the middle of an expression inside a bracket is still a cut, not a mistake.
    expect(errorOf(await agent.execute('total = sum([1, 2 +')).code).toBe('truncated_code');
    // A complete statement that is simply wrong stays a syntax error.
    expect(errorOf(await agent.execute('f(a b)')).code).toBe('syntax_error');
  });

  it('reports a missing module with its name, sys.path and an install hint', async () => {
    const err = errorOf(await agent.execute('import no_such_module_xyz'));
    expect(err.code).toBe('import_error');
    expect(err.module).toBe('no_such_module_xyz');
    expect(err.hint).toBe('install_package("no_such_module_xyz")');
    expect(err.sys_path).toEqual(expect.arrayContaining([expect.stringMatching(/python3/)]));
  });

  it('reports a runtime error with a traceback trimmed to the cell', async () => {
    const { reply, executionCount } = agent.startExecute('def boom():\n    return 1 / 0\n\nboom()');
    const r = await reply;
    const err = errorOf(r);
    expect(err.code).toBe('runtime_error');
    expect(err.ename).toBe('ZeroDivisionError');
    expect(err.evalue).toBe('division by zero');
    expect(err.line).toBe(2);
    expect(err.excerpt).toBe('return 1 / 0');
    const tb = (err.traceback ?? []).join('');
    expect(tb).toContain(`File "<cell-${executionCount}>", line 4, in <module>`);
    expect(tb).toContain(`File "<cell-${executionCount}>", line 2, in boom`);
    expect(tb).toContain('return 1 / 0');
    expect(tb).not.toContain('kernel.py');
    expect(tb).not.toContain('agent.py');
    // The namespace survives an error.
    expect(resultText(await agent.execute('x'))).toBe('2');
  });

  it('captures stdout and stderr separately, as events and in the final', async () => {
    const r = await agent.execute('import sys\nprint("to out")\nprint("to err", file=sys.stderr)');
    expect(r.final.stdout?.text).toBe('to out\n');
    expect(r.final.stderr?.text).toBe('to err\n');
    expect(r.final.stdout?.truncated).toBe(false);
    expect(r.final.stdout?.bytes).toBe(7);
    expect(streamText(r, 'stdout')).toBe('to out\n');
    expect(streamText(r, 'stderr')).toBe('to err\n');
  });

  it('captures output of child processes', async () => {
    const r = await agent.execute("import subprocess\nsubprocess.run(['echo', 'hi']);");
    expect(r.final.status).toBe('ok');
    expect(r.final.stdout?.text).toBe('hi\n');
  });

  it('does not hang on input()', async () => {
    const err = errorOf(await agent.execute('input()'));
    expect(err.ename).toBe('EOFError');
  });

  it('sends display_data for display() with the rich representation', async () => {
    const r = await agent.execute(
      'class Card:\n    def _repr_html_(self):\n        return "<b>card</b>"\n    def __repr__(self):\n        return "Card()"\ndisplay(Card())',
    );
    expect(r.final.status).toBe('ok');
    const shown = r.events.filter((e) => e.type === 'display_data');
    expect(shown).toHaveLength(1);
    const ev = shown[0];
    expect(ev?.type === 'display_data' ? ev.data : null).toEqual({
      'text/html': '<b>card</b>',
      'text/plain': 'Card()',
    });
  });

  it('shows a pandas DataFrame as text/html', async () => {
    const r = await agent.execute('import pandas as pd\npd.DataFrame({"a": [1, 2], "b": [3, 4]})');
    expect(r.final.status).toBe('ok');
    const ev = r.events.find((e) => e.type === 'execute_result');
    const data = ev && ev.type === 'execute_result' ? ev.data : {};
    expect(String(data['text/html'])).toContain('<table');
    expect(String(data['text/plain'])).toMatch(/a\s+b/);
  });

  it('answers info from the kernel', async () => {
    const { reply } = agent.request('info');
    const { final } = await reply;
    expect(final.status).toBe('ok');
    const info = final.info ?? {};
    expect(info['python_executable']).toBe(PYTHON);
    expect(String(info['python_version'])).toMatch(/^3\.\d+/);
    expect(info['sys_path']).toEqual(expect.arrayContaining(['']));
    expect(info['workspace']).toBe(agent.workspace);
    expect(info['cwd']).toBe(agent.workspace);
    expect(info['pid']).toBe(agent.ready.pid);
    expect(info['kernel_pid']).toBe(agent.ready.kernel_pid);
    expect(info['venv']).toBe(false);
    expect(typeof info['uid']).toBe('number');
    expect(typeof info['hostname']).toBe('string');
    expect(typeof info['execution_count']).toBe('number');
  });

  it('answers ping', async () => {
    expect((await agent.request('ping').reply).final.status).toBe('ok');
  });
});

describe('agent: timeouts, interrupts and dead kernels', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start();
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('interrupts a busy loop at the timeout and keeps the namespace', async () => {
    await agent.execute('marker = 41');
    const r = await agent.execute('while True: pass', { timeout_ms: 500, grace_ms: 2000 });
    expect(r.final.status).toBe('timeout');
    expect(r.final.state_preserved).toBe(true);
    expect(r.final.kernel_restarted).toBe(false);
    expect(r.final.error).toBeNull();
    expect(r.final.duration_ms).toBeGreaterThanOrEqual(500);
    expect(resultText(await agent.execute('marker + 1'))).toBe('42');
  });

  it('answers ping while busy and stops the request on interrupt', async () => {
    let started!: () => void;
    const running = agent.startExecute(
      'import time\nprint("started", flush=True)\nfor i in range(1000):\n    time.sleep(0.01)',
      {},
      (ev) => ev.type === 'stream' && started(),
    );
    await new Promise<void>((r) => (started = r));
    const ping = await agent.request('ping').reply;
    expect(ping.final.status).toBe('ok');
    agent.send({ id: 'int-1', op: 'interrupt', target: running.id });
    const r = await running.reply;
    expect(r.final.status).toBe('interrupted');
    expect(r.final.state_preserved).toBe(true);
    expect(r.final.kernel_restarted).toBe(false);
    expect(resultText(await agent.execute('i >= 0'))).toBe('True');
  });

  it('kills and restarts a kernel that swallows KeyboardInterrupt', async () => {
    const before = (await agent.request('info').reply).final.info?.['kernel_pid'];
    const r = await agent.execute(
      'import time\nwhile True:\n    try:\n        time.sleep(0.01)\n    except KeyboardInterrupt:\n        pass',
      { timeout_ms: 300, grace_ms: 300 },
    );
    expect(r.final.status).toBe('timeout');
    expect(r.final.state_preserved).toBe(false);
    expect(r.final.kernel_restarted).toBe(true);
    expect(r.final.duration_ms).toBeGreaterThanOrEqual(600);
    const next = await agent.execute('1 + 1');
    expect(next.final.status).toBe('ok');
    expect(resultText(next)).toBe('2');
    expect(errorOf(await agent.execute('marker')).ename).toBe('NameError');
    const after = (await agent.request('info').reply).final.info?.['kernel_pid'];
    expect(after).not.toBe(before);
  });

  it('reports a kernel killed by a signal and starts a new one', async () => {
    await agent.execute('survivor = 1');
    const r = await agent.execute('import os\nos.kill(os.getpid(), 9)');
    expect(r.final.status).toBe('killed');
    expect(r.final.signal).toBe(9);
    expect(r.final.state_preserved).toBe(false);
    expect(r.final.kernel_restarted).toBe(true);
    const next = await agent.execute('"alive"');
    expect(resultText(next)).toBe("'alive'");
    expect(errorOf(await agent.execute('survivor')).ename).toBe('NameError');
  });

  it('keeps the lane when a cell closes fds 3 and 4', async () => {
    await agent.execute('kept = 1');
    const r = await agent.execute(
      'import os\nfor fd in (3, 4):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\n"closed"',
    );
    expect(r.final.status).toBe('ok');
    expect(resultText(r)).toBe("'closed'");
    expect(resultText(await agent.execute('kept'))).toBe('1');
  });

  it('answers a clear_cache still waiting when the kernel is replaced because user code closed its lane', async () => {
    await agent.execute('kept = 1');
    const running = agent.startExecute('import os, time\ntime.sleep(0.3)\nos.closerange(3, 4096)');
    // Queued behind the cell on the lane: only the kernel can answer it.
    const clear = agent.request('clear_cache');
    const r = await running.reply;
    expect(r.final.status).toBe('killed');
    expect(r.final.state_preserved).toBe(false);
    expect(r.final.kernel_restarted).toBe(true);
    const c = await clear.reply;
    expect(c.final.status).toBe('error');
    expect(c.final.error?.code).toBe('kernel_restarted');
    expect(resultText(await agent.execute('"fresh"'))).toBe("'fresh'");
    expect(errorOf(await agent.execute('kept')).ename).toBe('NameError');
  }, 15_000);

  it('kills the processes a dead kernel left behind', async () => {
    const spawned = await agent.execute(
      'import subprocess\np = subprocess.Popen(["setsid", "sleep", "600"])\np.pid',
    );
    const pid = Number(resultText(spawned));
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    const r = await agent.execute('import os\nos._exit(3)');
    expect(r.final.status).toBe('killed');
    expect(r.final.signal).toBeNull();
    expect(r.final.exit_code).toBe(3);
    // Gone, or at most a zombie waiting to be reaped.
    const state = existsSync(`/proc/${pid}/stat`)
      ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
      : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });
});

describe('agent: large output', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start();
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('caps 10 MB of stdout to head and tail, saves all of it, and does not stall', async () => {
    // A stalled pipe would end the call as a timeout (20 s), not ok.
    const { reply, executionCount } = agent.startExecute(
      'import sys\nsys.stdout.write("HEAD" + "x" * 10_000_000 + "TAIL\\n")',
      { output_cap: 32768 },
    );
    const r = await reply;
    expect(r.final.status).toBe('ok');
    const out = r.final.stdout;
    if (!out) throw new Error('no stdout in final');
    const total = 10_000_009;
    expect(out.truncated).toBe(true);
    expect(out.bytes).toBe(total);
    expect(out.text.startsWith('HEAD' + 'x'.repeat(100))).toBe(true);
    expect(out.text.endsWith('x'.repeat(100) + 'TAIL\n')).toBe(true);
    expect(out.text).toContain(`\n…[${total - 32768} bytes omitted]…\n`);
    expect(Buffer.byteLength(out.text)).toBeLessThan(32768 + 100);
    expect(out.saved_path).toBe(`.sandbox/outputs/${executionCount}.stdout.txt`);
    expect(statSync(join(agent.workspace, out.saved_path as string)).size).toBe(total);
    // Streamed events stop at the cap too.
    const streamed = Buffer.byteLength(streamText(r, 'stdout'));
    expect(streamed).toBeGreaterThan(0);
    expect(streamed).toBeLessThanOrEqual(32768);
  });

  it('keeps up with many small prints and leaves short output unsaved', async () => {
    const r = await agent.execute('for i in range(100_000):\n    print(f"{i:099d}")', { output_cap: 1000 });
    expect(r.final.status).toBe('ok');
    expect(r.final.stdout?.bytes).toBe(10_000_000);
    expect(r.final.stdout?.text.endsWith(`${'0'.repeat(94)}99999\n`)).toBe(true);
    const small = await agent.execute('print("short")');
    expect(small.final.stdout?.saved_path).toBeNull();
  });
});

// The in-box kill sweep only runs inside a pid namespace whose init is bwrap.
const bwrapWorks =
  existsSync('/usr/bin/bwrap') &&
  spawnSync('/usr/bin/bwrap', [
    '--unshare-pid',
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    'true',
  ]).status === 0;

describe.skipIf(!bwrapWorks)('agent: inside a bwrap pid namespace', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    const ws = tmpdir();
    agent = await AgentClient.start({
      command: [
        '/usr/bin/bwrap',
        '--unshare-pid',
        '--die-with-parent',
        '--ro-bind',
        '/',
        '/',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--bind',
        ws,
        ws,
        '--setenv',
        'SANDBOX_IN_BOX',
        '1',
        '--',
        PYTHON,
        '-I',
        '-u',
        AGENT_PY,
      ],
    });
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('kills every process of the box but itself when the kernel is restarted', async () => {
    const pids = 'import os\nsorted(int(p) for p in os.listdir("/proc") if p.isdigit())';
    await agent.execute(
      'import subprocess, time\nsubprocess.Popen(["setsid", "sleep", "600"])\nsubprocess.Popen("sleep 600 &", shell=True)\ntime.sleep(0.2)',
    );
    const before = JSON.parse(resultText(await agent.execute(pids)) ?? '[]') as number[];
    expect(before.length).toBeGreaterThanOrEqual(5); // init, agent, kernel, two sleeps
    const r = await agent.execute(
      'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass',
      { timeout_ms: 300, grace_ms: 200 },
    );
    expect(r.final.status).toBe('timeout');
    expect(r.final.kernel_restarted).toBe(true);
    const after = JSON.parse(resultText(await agent.execute(pids)) ?? '[]') as number[];
    expect(after).toHaveLength(3); // init, agent, the new kernel
    expect(after.slice(0, 2)).toEqual([1, agent.ready.pid]);
  });
});
