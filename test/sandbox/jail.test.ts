// End-to-end tests of the jail as the server launches it (launcher + bwrap + cgroups + seccomp): each protection is checked from inside, most with a control run showing the check can fail. Never leaves processes or cgroups behind.
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeHostLayout, type HostLayout } from '../../src/sandbox/bwrap-argv.js';
import { boxOwner } from '../../src/box-user.js';
import { ensureBoxOwnership } from '../../src/sandbox/box-ownership.js';
import { BoxCgroup, cgroupSupport } from '../../src/sandbox/cgroups.js';
import { planBoxLaunch } from '../../src/sandbox/launch-plan.js';
import { runLaunchCommand, type LaunchResult, type LaunchRlimits } from '../../src/sandbox/launch.js';
import { seccompProgram } from '../../src/sandbox/seccomp.js';

const BWRAP = '/usr/bin/bwrap';
const PYTHON = '/usr/bin/python3';
const hasBwrap = (() => {
  try {
    readFileSync(BWRAP);
    return true;
  } catch {
    return false;
  }
})();

let tmp: string;
let layout: HostLayout;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'jail-test-'));
  for (const d of ['workspace', 'agent', 'mpl']) mkdirSync(join(tmp, d));
  layout = probeHostLayout(BWRAP);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface JailOptions {
  cgroup?: BoxCgroup | null;
  seccomp?: boolean;
  network?: 'none' | 'host';
  env?: Record<string, string>;
  parentEnv?: NodeJS.ProcessEnv;
  rlimits?: Partial<LaunchRlimits>;
}

function jail(command: string[], o: JailOptions = {}): Promise<LaunchResult> {
  ensureBoxOwnership([join(tmp, 'workspace'), join(tmp, 'mpl')]);
  const cmd = planBoxLaunch({
    bwrapPath: BWRAP,
    spec: {
      workspace: join(tmp, 'workspace'),
      agentDir: join(tmp, 'agent'),
      mplConfigDir: join(tmp, 'mpl'),
      command,
      env: o.env ?? {},
      network: o.network ?? 'none',
      hostLayout: layout,
      ...(o.seccomp ? { seccompFd: 3 } : {}),
    },
    cgroupProcs: o.cgroup ? o.cgroup.procsFiles() : [],
    rlimits: { fileSizeBytes: 64 << 20, openFiles: 256, ...o.rlimits },
    optionsFd: 4,
  });
  return runLaunchCommand(cmd, {
    ...(o.seccomp ? { seccompProgram: seccompProgram('x86_64') } : {}),
    ...(o.parentEnv ? { env: o.parentEnv } : {}),
    timeoutMs: 30_000,
  });
}

/** Runs a python snippet in the jail; it must print one JSON line as its last output. */
async function py(code: string, o: JailOptions = {}): Promise<Record<string, unknown>> {
  const r = await jail([PYTHON, '-c', code], o);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON from the jail (exit ${r.code}, signal ${r.signal}): ${r.stdout}\n${r.stderr}`);
  }
}

describe.skipIf(!hasBwrap)('the jail', () => {
  it('runs as uid 1000 with hostname sandbox, cwd and HOME at /workspace, in fresh namespaces', async () => {
    const out = await py(`
import json, os, socket, pwd, getpass
print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'euid': os.geteuid(), 'host': socket.gethostname(), 'cwd': os.getcwd(),
  'home': os.path.expanduser('~'), 'pid': os.getpid(), 'user': pwd.getpwuid(os.getuid()).pw_name, 'getuser': getpass.getuser(),
  'localhost': socket.gethostbyname('localhost'), 'ns': {n: os.readlink('/proc/self/ns/' + n) for n in ('user', 'pid', 'mnt', 'ipc', 'uts', 'net')}}))`);
    expect(out).toMatchObject({
      uid: 1000,
      gid: 1000,
      euid: 1000,
      host: 'sandbox',
      cwd: '/workspace',
      home: '/workspace',
      user: 'sandbox',
      getuser: 'sandbox',
      localhost: '127.0.0.1',
    });
    expect(out.pid).toBeLessThanOrEqual(3);
    const ns = out.ns as Record<string, string>;
    for (const n of ['user', 'pid', 'mnt', 'ipc', 'uts', 'net'])
      expect(ns[n]).not.toBe(readlinkSync(`/proc/self/ns/${n}`));
  });

  it('cannot read /etc/shadow, which this test process can', async () => {
    expect(readFileSync('/etc/shadow', 'utf8').length).toBeGreaterThan(0);
    const out = await py(`
import json, os
try:
    open('/etc/shadow').read(); r = 'read'
except OSError as e:
    r = type(e).__name__
print(json.dumps({'shadow': r, 'etc': sorted(os.listdir('/etc'))}))`);
    expect(out.shadow).toBe('FileNotFoundError');
    const etc = out.etc as string[];
    for (const secret of ['shadow', 'gshadow', 'sudoers', 'ssh', 'machine-id'])
      expect(etc).not.toContain(secret);
    expect(etc).toEqual(expect.arrayContaining(['ld.so.cache', 'passwd', 'group', 'hosts']));
  });

  it("does not show the host's /root, /home, the server's files or the workspace's parent", async () => {
    const visible = await jail([
      PYTHON,
      '-c',
      'import os, sys; print([p for p in sys.argv[1:] if os.path.exists(p)])',
      '/root',
      '/home',
      '/work',
      tmp,
      '/sys',
      '/var',
      '/run',
    ]);
    expect(visible.stdout.trim()).toBe('[]');
  });

  it('has a read-only root; only /workspace (seen by the host), /tmp and the matplotlib dir are writable', async () => {
    const out = await py(`
import json
res = {}
for p in ['/x', '/usr/x', '/etc/x', '/opt/sandbox-agent/x', '/workspace/hello.txt', '/tmp/x', '/opt/mplconfig/x']:
    try:
        open(p, 'w').write('hi'); res[p] = 'ok'
    except OSError as e:
        res[p] = e.strerror
print(json.dumps(res))`);
    expect(out).toEqual({
      '/x': 'Read-only file system',
      '/usr/x': 'Read-only file system',
      '/etc/x': 'Read-only file system',
      '/opt/sandbox-agent/x': 'Read-only file system',
      '/workspace/hello.txt': 'ok',
      '/tmp/x': 'ok',
      '/opt/mplconfig/x': 'ok',
    });
    expect(readFileSync(join(tmp, 'workspace', 'hello.txt'), 'utf8')).toBe('hi');
  });

  describe('network', () => {
    let server: Server;
    let port = 0;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((s) => {
        connections++;
        s.on('error', () => undefined); // the probe closes without reading
        s.end('hello\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const addr = server.address();
      port = typeof addr === 'object' && addr ? addr.port : 0;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const probe = `
import json, socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect(('127.0.0.1', int(sys.argv[1]))); r = 'connected'
except OSError as e:
    r = type(e).__name__
print(json.dumps({'connect': r, 'ifaces': [n for _, n in socket.if_nameindex()]}))`;

    it('cannot reach a port the host opened on 127.0.0.1 and sees only lo', async () => {
      const r = await jail([PYTHON, '-c', probe, String(port)]);
      expect(JSON.parse(r.stdout)).toEqual({ connect: 'ConnectionRefusedError', ifaces: ['lo'] });
      expect(connections).toBe(0);
    });

    it('control: with network host the same probe connects', async () => {
      const r = await jail([PYTHON, '-c', probe, String(port)], { network: 'host' });
      expect(JSON.parse(r.stdout).connect).toBe('connected');
      expect(connections).toBe(1);
    });
  });

  it("passes only the allowlisted environment, not the parent's secrets", async () => {
    process.env.SANDBOX_TEST_SECRET = 'hunter2-secret';
    try {
      const r = await jail(['/usr/bin/env'], { parentEnv: process.env, env: { EXTRA_ONE: 'x' } });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('hunter2-secret');
      const names = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0])
        .sort();
      // PWD is bwrap's own doing after --chdir
      expect(names).toEqual([
        'EXTRA_ONE',
        'HOME',
        'LANG',
        'LOGNAME',
        'MPLBACKEND',
        'MPLCONFIGDIR',
        'PATH',
        'PWD',
        'SANDBOX_IN_BOX',
        'SANDBOX_WORKSPACE',
        'TMPDIR',
        'USER',
      ]);
      expect(r.stdout).toContain('PWD=/workspace\n');
    } finally {
      delete process.env.SANDBOX_TEST_SECRET;
    }
  });

  it('caps file size: writing past RLIMIT_FSIZE fails with EFBIG and the limit cannot be raised', async () => {
    const out = await py(
      `
import json, os, resource
res = {'limit': resource.getrlimit(resource.RLIMIT_FSIZE)}
try:
    with open('/workspace/big.bin', 'wb') as f:
        f.write(b'x' * (2 << 20))
    res['write'] = 'ok'
except OSError as e:
    res['write'] = e.errno
res['size'] = os.path.getsize('/workspace/big.bin')
try:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20)); res['raise'] = 'ok'
except (OSError, ValueError) as e:
    res['raise'] = type(e).__name__
print(json.dumps(res))`,
      { rlimits: { fileSizeBytes: 1 << 20 } },
    );
    expect(out).toEqual({
      limit: [1 << 20, 1 << 20],
      write: 27 /* EFBIG */,
      size: 1 << 20,
      raise: 'ValueError',
    });
  });

  it('caps open files at RLIMIT_NOFILE', async () => {
    const out = await py(
      `
import json, os
fds = []
try:
    while len(fds) < 1000: fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    print(json.dumps({'opened_up_to': max(fds), 'errno': e.errno}))`,
      { rlimits: { openFiles: 48 } },
    );
    expect(out).toEqual({ opened_up_to: 47, errno: 24 /* EMFILE */ });
  });

  describe('seccomp', () => {
    const probe = `
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
def sc(*a):
    r = libc.syscall(*a)
    return 'ok' if r >= 0 else errno.errorcode[ctypes.get_errno()]
res = {'unshare0': sc(272, 0), 'ptrace': sc(101, 3, os.getpid(), 0, 0), 'clone3': sc(435, 0, 0), 'keyctl': sc(250, 0, -1, 0)}
r = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
res['clone_newuser'] = 'ok' if r > 0 else errno.errorcode[ctypes.get_errno()]
if r > 0:
    os.waitpid(r, 0)
print(json.dumps(res))`;

    it('fails denied syscalls with EPERM (and clone3 with ENOSYS)', async () => {
      expect(await py(probe, { seccomp: true })).toEqual({
        unshare0: 'EPERM',
        ptrace: 'EPERM',
        clone3: 'ENOSYS',
        keyctl: 'EPERM',
        clone_newuser: 'EPERM',
      });
    });

    it('control: without the filter the same calls get other answers', async () => {
      const out = await py(probe);
      expect(out.unshare0).toBe('ok');
      expect(out.ptrace).toBe('ESRCH');
      expect(out.clone3).not.toBe('ENOSYS');
      // --disable-userns answers nested user namespaces with ENOSPC, not EPERM
      expect(out.clone_newuser).toBe('ENOSPC');
    });

    it('keeps ordinary Python working: numpy with threads, subprocess, multiprocessing, file IO', async () => {
      const out = await py(
        `
import json, subprocess, threading, multiprocessing, numpy as np
a = np.random.default_rng(0).random((300, 300))
s = float((a @ a).trace())
t = threading.Thread(target=lambda: None); t.start(); t.join()
p = subprocess.run(['/bin/echo', 'sub'], capture_output=True, text=True).stdout.strip()
with multiprocessing.Pool(2) as pool:
    m = pool.map(abs, [-1, -2, -3])
open('/workspace/io.txt', 'w').write('data')
print(json.dumps({'numpy': s > 0, 'sub': p, 'mp': m, 'io': open('/workspace/io.txt').read()}))`,
        { seccomp: true },
      );
      expect(out).toEqual({ numpy: true, sub: 'sub', mp: [1, 2, 3], io: 'data' });
    });
  });

  const support = cgroupSupport();
  describe.skipIf(!(support.memory && support.pids))('cgroups', () => {
    it('kills a python allocating 2 GB under a 256 MB memory limit and counts the OOM kill', async () => {
      const cg = BoxCgroup.create(`test-${process.pid}-oom`, { memoryBytes: 256 << 20, pids: 64 })!;
      try {
        const r = await jail(
          [PYTHON, '-c', "chunks = [b'x' * (16 << 20) for _ in range(128)]; print('survived')"],
          { cgroup: cg },
        );
        expect(r.stdout).not.toContain('survived');
        expect(r.code).toBe(137); // bwrap reports its child's SIGKILL as 128 + 9
        expect(cg.oomKillCount()).toBeGreaterThan(0);
        expect(cg.memoryPeak()).toBeLessThanOrEqual(256 << 20);
      } finally {
        await cg.destroy();
      }
    });

    it('control: an allocation that fits the limit survives, so the limit is what kills the big one', async () => {
      const cg = BoxCgroup.create(`test-${process.pid}-fits`, { memoryBytes: 512 << 20, pids: 64 })!;
      try {
        const r = await jail(
          [PYTHON, '-c', "chunks = [b'x' * (16 << 20) for _ in range(8)]; print('survived')"],
          { cgroup: cg },
        );
        expect(r.stdout).toContain('survived');
        expect(cg.oomKillCount()).toBe(0);
      } finally {
        await cg.destroy();
      }
    });

    it('stops a fork loop at pids.max 32', async () => {
      const cg = BoxCgroup.create(`test-${process.pid}-pids`, { memoryBytes: 512 << 20, pids: 32 })!;
      try {
        const out = await py(
          `
import errno, json, os, time
kids, err = [], None
try:
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            time.sleep(30); os._exit(0)
        kids.append(pid)
except OSError as e:
    err = errno.errorcode[e.errno]
for k in kids: os.kill(k, 9)
for k in kids: os.waitpid(k, 0)
print(json.dumps({'forked': len(kids), 'err': err}))`,
          { cgroup: cg },
        );
        // bwrap, its reaper and python hold 3 of the 32
        expect(out).toEqual({ forked: 29, err: 'EAGAIN' });
      } finally {
        await cg.destroy();
      }
    });
  });

  describe('host identity and global /proc (the core_pattern escape)', () => {
    it('never maps the box user onto host root: what it writes belongs to the box uid on the host', async () => {
      await py(`
import json
open('/workspace/owner-probe', 'w').close()
print(json.dumps({}))`);
      const st = statSync(join(tmp, 'workspace', 'owner-probe'));
      expect(st.uid).not.toBe(0);
      expect(st.gid).not.toBe(0);
      expect(st.uid).toBe(boxOwner().uid);
    });

    it('cannot open /proc/sys for writing (core_pattern, drop_caches) nor read masked kernel internals', async () => {
      // opening for write changes nothing: the attack would go on to write |<script> into core_pattern
      const out = await py(`
import errno, json, os
def w(p):
    try:
        os.close(os.open(p, os.O_WRONLY)); return 'writable'
    except OSError as e: return errno.errorcode[e.errno]
def r(p):
    try:
        with open(p, 'rb') as f: return 'readable' if f.read(64) else 'empty'
    except OSError as e: return errno.errorcode[e.errno]
paths = ['/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sys/kernel/sysrq', '/proc/sysrq-trigger']
masked = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/kallsyms', '/proc/sched_debug']
print(json.dumps({'w': {p: w(p) for p in paths if os.path.exists(p)}, 'r': {p: r(p) for p in masked if os.path.exists(p)},
  'pattern': open('/proc/sys/kernel/core_pattern').read().strip()}))`);
      const writes = out.w as Record<string, string>;
      expect(Object.keys(writes)).toContain('/proc/sys/kernel/core_pattern');
      for (const [path, v] of Object.entries(writes)) expect([path, v]).not.toEqual([path, 'writable']);
      for (const [path, v] of Object.entries(out.r as Record<string, string>))
        expect([path, v]).not.toEqual([path, 'readable']);
      // still readable: the sysctls are read-only, not gone
      expect(out.pattern).toBe(readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim());
    });

    it("shows no host path in pid 1's command line or environment, nor in PWD", async () => {
      const out = await py(`
import json, os
def rd(p):
    try: return open(p, 'rb').read().decode('utf8', 'replace')
    except OSError as e: return ''
print(json.dumps({'text': rd('/proc/1/cmdline') + rd('/proc/1/environ') + rd('/proc/self/environ') + os.environ.get('PWD', '')}))`);
      const text = out.text as string;
      for (const host of [tmp, process.cwd(), join(tmp, 'workspace')]) expect(text).not.toContain(host);
    });

    it('cannot make a setuid or setgid file that the host would see', async () => {
      const out = await py(
        `
import errno, json, os
def t(f):
    try: f(); return 'ok'
    except OSError as e: return errno.errorcode[e.errno]
open('/workspace/s1', 'w').close()
res = {'chmod': t(lambda: os.chmod('/workspace/s1', 0o4755)), 'chmod_g': t(lambda: os.chmod('/workspace/s1', 0o2755)),
  'create': t(lambda: os.close(os.open('/workspace/s2', os.O_CREAT | os.O_WRONLY, 0o4755))),
  'plain': t(lambda: os.chmod('/workspace/s1', 0o755))}
os.system('chmod u+s /workspace/s1 2>/dev/null')
print(json.dumps(res))`,
        { seccomp: true },
      );
      expect(out).toEqual({ chmod: 'EPERM', chmod_g: 'EPERM', create: 'EPERM', plain: 'ok' });
      for (const name of ['s1', 's2']) {
        let mode = 0;
        try {
          mode = statSync(join(tmp, 'workspace', name)).mode;
        } catch {
          // not created: nothing setuid either
        }
        expect(mode & 0o6000).toBe(0);
      }
    });
  });
});
