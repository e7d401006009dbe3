// End-to-end: limits and isolation as a user sees them — timeouts, memory, fork bombs, escapes, huge output, CPU
// shares, and server settings that a tool argument cannot raise.
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxCpu, boxMemoryLimit } from './box-cgroups.js';
import { boxOwner } from '../../src/box-user.js';
import { TEST_BACKEND, errorOf as errorBody, startStdio, type Harness } from './harness.js';

/**
 * CPU seconds a cell spends: `busy` processes spinning for `seconds` of wall time. Each starts a session of its own,
 * which on a kernel with autogroup scheduling would otherwise win it a CPU share of its own.
 */
function spinCode(busy: number, seconds: number): string {
  return [
    'import resource, subprocess, sys, time',
    `spin = "import time\\nt = time.time()\\nwhile time.time() - t < ${seconds}: pass"`,
    `procs = [subprocess.Popen([sys.executable, "-c", spin], start_new_session=True) for _ in range(${busy})]`,
    '[p.wait() for p in procs]',
    'r = resource.getrusage(resource.RUSAGE_CHILDREN)',
    'r.ru_utime + r.ru_stime',
  ].join('\n');
}

describe('limits and isolation', () => {
  let h: Harness;
  let tcp: Server;
  let port = 0;
  beforeAll(async () => {
    h = await startStdio();
    tcp = createServer((s) => s.end('hello from the host\n'));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    port = (tcp.address() as { port: number }).port;
  });
  afterAll(async () => {
    tcp?.close();
    await h?.close();
  });

  it('ends an endless loop at its timeout and keeps the session usable', async () => {
    await h.sc('execute', { code: 'kept = 42' });
    const res = await h.call('execute', { code: 'while True:\n    pass', timeout: 1 });
    const sc = res.structuredContent as Record<string, any>;
    expect(res.isError).toBe(true);
    expect(sc.status).toBe('timeout');
    expect(sc.error.code).toBe('timeout');
    expect(sc.state_preserved).toBe(true);
    const after = await h.sc('execute', { code: 'kept' });
    expect(after.result['text/plain']).toBe('42');
  });

  it('kills a cell that swallows the interrupt, restarts Python and says the state is lost', async () => {
    await h.sc('execute', { code: 'kept = 1' });
    const code =
      'import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass';
    const sc = (await h.call('execute', { code, timeout: 1 })).structuredContent as Record<string, any>;
    expect(sc.status).toBe('timeout');
    expect(sc.state_preserved).toBe(false);
    expect(sc.kernel_restarted).toBe(true);
    const after = await h.call('execute', { code: 'kept' });
    expect(errorBody(after).details.ename).toBe('NameError');
    expect((await h.sc('execute', { code: '1 + 1' })).result['text/plain']).toBe('2');
  });

  it('reports a 2 GB allocation as memory_limit while other sessions carry on', async () => {
    const small = await h.sc('create_session', { memory_mb: 256 });
    const other = await h.sc('create_session', {});
    await h.sc('execute', { code: 'y = 7', session_id: other.session_id });
    const res = await h.call('execute', {
      code: 'b = bytearray(2 * 1024**3)\nb[::4096] = b"x" * len(b[::4096])',
      session_id: small.session_id,
      timeout: 30,
    });
    const sc = res.structuredContent as Record<string, any>;
    expect(sc.status).toBe('memory_limit');
    expect(sc.error.code).toBe('memory_limit');
    expect((await h.sc('execute', { code: 'y', session_id: other.session_id })).result['text/plain']).toBe(
      '7',
    );
    expect(
      (await h.sc('execute', { code: '3 * 3', session_id: small.session_id })).result['text/plain'],
    ).toBe('9');
  });

  it('contains a fork bomb with the pids limit', async () => {
    const s = await h.sc('create_session', {});
    const code = 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass';
    const res = await h.call('execute', { code, session_id: s.session_id, timeout: 3 });
    const sc = res.structuredContent as Record<string, any>;
    expect(sc.status).toBe('timeout');
    const info = await h.sc('get_execution_info', { session_id: s.session_id });
    expect(info.usage.pids).toBeLessThanOrEqual(256);
    const after = await h.sc('execute', {
      code: 'import os\nlen([p for p in os.listdir("/proc") if p.isdigit()])',
      session_id: s.session_id,
    });
    expect(after.status).toBe('ok');
    expect(Number(after.result['text/plain'])).toBeLessThan(10);
  });

  it('cannot read /etc/shadow, the data dir or reach a loopback port on the host', async () => {
    const code = [
      'import socket, os',
      'res = {}',
      'try:\n    open("/etc/shadow").read(); res["shadow"] = "read"\nexcept OSError as e:\n    res["shadow"] = type(e).__name__',
      `try:\n    os.listdir(${JSON.stringify(h.dataDir)}); res["datadir"] = "listed"\nexcept OSError as e:\n    res["datadir"] = type(e).__name__`,
      `try:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=2).recv(100); res["tcp"] = "connected"\nexcept OSError as e:\n    res["tcp"] = type(e).__name__`,
      'res["uid"] = os.getuid()',
      'res',
    ].join('\n');
    const sc = await h.sc('execute', { code });
    const out = sc.result['text/plain'] as string;
    expect(out).not.toContain("'read'");
    expect(out).not.toContain("'listed'");
    expect(out).not.toContain("'connected'");
    // bubblewrap maps the box user to uid 1000 in its user namespace; a Docker box runs as the host box uid itself.
    expect(out).toContain(`'uid': ${TEST_BACKEND === 'docker' ? boxOwner().uid : 1000}`);
  });

  it('does not expose the server environment inside the box', async () => {
    const sc = await h.sc('execute', { code: 'import os\nsorted(os.environ)' });
    const keys = sc.result['text/plain'] as string;
    expect(keys).not.toContain('SANDBOX_MCP_LOG_LEVEL');
    expect(keys).toContain('HOME');
  });

  it('caps 10 MB of output, keeps head and tail, saves the whole', async () => {
    const code =
      'import sys\nfor i in range(100_000):\n    sys.stdout.write(f"line {i:06d} " + "x" * 88 + "\\n")';
    const sc = await h.sc('execute', { code, timeout: 50 });
    expect(sc.status).toBe('ok');
    expect(sc.stdout_truncated).toBe(true);
    expect(sc.stdout.length).toBeLessThan(40_000);
    expect(sc.stdout).toContain('line 000000');
    expect(sc.stdout).toContain('line 099999');
    const saved = sc.full_output.stdout as string;
    const session = (await h.sc('list_sessions')).sessions.find((s: any) => s.is_default);
    const file = join(h.dataDir, 'sessions', session.session_id, 'workspace', saved);
    expect(readFileSync(file).length).toBe(100_000 * 101);
  });

  it('sends progress notifications with output while a call runs', async () => {
    const seen: string[] = [];
    const res = await h.client.callTool(
      {
        name: 'execute',
        arguments: {
          code: 'import time\nfor i in range(6):\n    print("tick", i, flush=True)\n    time.sleep(0.4)',
        },
      },
      { onprogress: (p: { message?: string }) => seen.push(p.message ?? '') },
    );
    expect((res.structuredContent as any).status).toBe('ok');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.join('')).toContain('tick');
  });

  it('shares the CPU between sessions, not between processes: eight busy processes do not starve one', async () => {
    const crowd = await h.sc('create_session', {});
    const single = await h.sc('create_session', {});
    const cpuOf = async (sid: string, busy: number) => {
      const sc = (await h.call('execute', { code: spinCode(busy, 4), session_id: sid, timeout: 30 }))
        .structuredContent as any;
      expect(sc.status).toBe('ok');
      return Number(sc.result['text/plain']);
    };
    const [many, one] = await Promise.all([cpuOf(crowd.session_id, 8), cpuOf(single.session_id, 1)]);
    const cpu = boxCpu(single.session_id);
    expect(cpu.share).toBe(cpu.expectedShare);
    // Shared per process (or per process session), the single one would get 1/8 of the crowd's CPU time; per box,
    // about half of it or more on two cores. Other load on the machine slows both boxes alike.
    expect(one / many).toBeGreaterThan(0.3);
  });

  it('runs different sessions in parallel and queues calls to one session', async () => {
    const a = await h.sc('create_session', {});
    const b = await h.sc('create_session', {});
    // Each call reports when it ran (wall clock inside the box), so overlap is judged without timing the test.
    const span = 'import time\nt0 = time.time()\ntime.sleep(0.8)\n(t0, time.time())';
    const run = async (sid: string) => {
      const sc = (await h.call('execute', { code: span, session_id: sid })).structuredContent as any;
      return JSON.parse((sc.result['text/plain'] as string).replace('(', '[').replace(')', ']')) as [
        number,
        number,
      ];
    };
    // Both boxes run before the measured calls: a box start (longer on Docker) is not what overlaps here.
    await Promise.all([a, b].map((s) => h.sc('execute', { code: '1', session_id: s.session_id })));
    const [pa, pb] = await Promise.all([run(a.session_id), run(b.session_id)]);
    expect(Math.max(pa[0], pb[0])).toBeLessThan(Math.min(pa[1], pb[1]));
    const [q1, q2] = await Promise.all([run(a.session_id), run(a.session_id)]);
    const [first, second] = q1[0] < q2[0] ? [q1, q2] : [q2, q1];
    expect(second[0]).toBeGreaterThanOrEqual(first[1]);
  });
});

describe('server settings are ceilings a client cannot raise', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startStdio({ args: ['--memory-mb', '256', '--timeout', '20', '--cpu-quota', '0.5'] });
  });
  afterAll(async () => {
    await h?.close();
  });

  const refusal = async (tool: string, args: Record<string, unknown>) => {
    const res = await h.call(tool, args);
    expect(res.isError, tool).toBe(true);
    return errorBody(res);
  };

  it('refuses memory_mb above --memory-mb; below it is granted, and a 3 GiB allocation fails with memory_limit', async () => {
    const refused = await refusal('create_session', { memory_mb: 1_048_576 });
    expect(refused.code).toBe('invalid_argument');
    expect(refused.details).toMatchObject({ argument: 'memory_mb', max: 256, setting: '--memory-mb' });
    expect((await h.sc('list_sessions')).sessions).toHaveLength(0);
    expect((await h.sc('create_session', { memory_mb: 128 })).memory_mb).toBe(128);
    const s = await h.sc('create_session', {});
    expect(s.memory_mb).toBe(256);
    const res = await h.call('execute', {
      code: 'b = bytearray(3 * 1024**3)\nb[::4096] = b"x" * len(b[::4096])',
      session_id: s.session_id,
    });
    expect((res.structuredContent as any).status).toBe('memory_limit');
    expect(boxMemoryLimit(s.session_id)).toBe(256 * 1024 * 1024);
  });

  it('refuses a timeout above --timeout on create_session, execute and shell_execute, and above 600 s on installs', async () => {
    for (const [tool, args] of [
      ['create_session', { timeout_s: 21 }],
      ['execute', { code: '1', timeout: 3600 }],
      ['shell_execute', { command: 'true', timeout: 21 }],
    ] as const) {
      const err = await refusal(tool, args);
      expect(err.code, tool).toBe('invalid_argument');
      expect(err.details, tool).toMatchObject({ max: 20, setting: '--timeout' });
    }
    const install = await refusal('install_package', { package: 'six', timeout: 601 });
    expect(install.code).toBe('invalid_argument');
    expect(install.details).toMatchObject({ argument: 'timeout', max: 600 });
    expect((await h.sc('execute', { code: '6 * 7', timeout: 5 })).result['text/plain']).toBe('42');
  });

  it('lowers the sessions kept over a restart to a ceiling lowered meanwhile', async () => {
    const first = await startStdio({ args: ['--memory-mb', '512', '--timeout', '30'] });
    const kept = await first.sc('create_session', { memory_mb: 512, timeout_s: 30 });
    await first.close({ keepData: true });
    const second = await startStdio({
      dataDir: first.dataDir,
      args: ['--memory-mb', '256', '--timeout', '20'],
    });
    try {
      const [row] = (await second.sc('list_sessions')).sessions;
      expect(row).toMatchObject({ session_id: kept.session_id, memory_mb: 256, timeout_s: 20 });
      await second.sc('execute', { code: '1', session_id: kept.session_id });
      expect(boxMemoryLimit(kept.session_id)).toBe(256 * 1024 * 1024);
    } finally {
      await second.close();
    }
  });

  it('gives each box its CPU share and the --cpu-quota, read back from the cgroup and felt by a busy loop', async () => {
    const s = await h.sc('create_session', {});
    const sc = await h.sc('execute', { code: spinCode(2, 3), session_id: s.session_id });
    const cpu = boxCpu(s.session_id);
    expect(cpu.share).toBe(cpu.expectedShare);
    expect(cpu.quotaUs).toBe(50_000);
    // Two spinning processes for 3 s would use 6 CPU seconds unthrottled; half a CPU allows about 1.5.
    expect(Number(sc.result['text/plain'])).toBeLessThan(2);
  });
});
