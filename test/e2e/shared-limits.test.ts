// Attacks on what boxes share with each other and with the host beyond their own limits: host-wide kernel AIO
// contexts, the box uid's inotify instances, socket families that reach past the network namespace, and the agent's
// memory (same uid as the code). Each is tried from a cell through the real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startStdio();
}, 120_000);
afterAll(() => h?.close());

async function probe(code: string, session?: string): Promise<Record<string, any>> {
  const r = await h.sc('execute', { code, ...(session !== undefined && { session_id: session }) });
  if (r.status !== 'ok') throw new Error(`execute failed: ${JSON.stringify(r).slice(0, 2000)}`);
  return JSON.parse((r.stdout as string).trim().split('\n').pop() ?? '{}') as Record<string, any>;
}

const LIBC = `
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def sys_call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return r, (errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if r < 0 else None)
`;

describe('a box cannot use up what other boxes and the host share', () => {
  it('gets no kernel AIO context: one box once held every context of the host (fs.aio-max-nr)', async () => {
    const out = await probe(`${LIBC}
ctx = ctypes.c_ulong(0)
held, err = 0, None
for _ in range(64):
    r, err = sys_call(206, 1024, ctypes.addressof(ctx))  # io_setup
    if r < 0: break
    held += 1
    ctx = ctypes.c_ulong(0)
print(json.dumps({'held': held, 'err': err}))`);
    expect(out).toEqual({ held: 0, err: 'ENOSYS' });
  });

  it('gets no inotify instance: one box once held all 128 of the box uid, and the next session got none', async () => {
    const out = await probe(`${LIBC}
fds, err = [], None
for _ in range(200):
    fd = libc.inotify_init1(0)
    if fd < 0:
        err = errno.errorcode.get(ctypes.get_errno())
        break
    fds.append(fd)
print(json.dumps({'held': len(fds), 'err': err}))`);
    expect(out).toEqual({ held: 0, err: 'ENOSYS' });
  });

  it('opens no socket outside local, IPv4, IPv6 and netlink (AF_VSOCK ignores the network namespace)', async () => {
    const out = await probe(`${LIBC}
def try_family(family, kind=socket.SOCK_STREAM):
    try:
        socket.socket(family, kind).close(); return 'opened'
    except OSError as e: return errno.errorcode.get(e.errno, str(e.errno))
a, b = socket.socketpair(); a.close(); b.close()
print(json.dumps({
    'vsock': try_family(40), 'alg': try_family(38, socket.SOCK_SEQPACKET), 'packet': try_family(17, socket.SOCK_RAW),
    'bluetooth': try_family(31), 'inet': try_family(socket.AF_INET), 'inet6': try_family(socket.AF_INET6),
    'unix': try_family(socket.AF_UNIX), 'netlink': try_family(16, socket.SOCK_RAW),
}))`);
    expect(out).toEqual({
      vsock: 'EAFNOSUPPORT',
      alg: 'EAFNOSUPPORT',
      packet: 'EAFNOSUPPORT',
      bluetooth: 'EAFNOSUPPORT',
      inet: 'opened',
      inet6: 'opened',
      unix: 'opened',
      netlink: 'opened',
    });
  });

  it("cannot write the agent's memory or open its descriptors through /proc", async () => {
    const out = await probe(`
import errno, json, os
agent = os.getppid()
def try_open(path, mode):
    try:
        with open(path, mode): return 'opened'
    except OSError as e: return errno.errorcode.get(e.errno, str(e.errno))
def try_fds():
    try: return len(os.listdir(f'/proc/{agent}/fd'))
    except OSError as e: return errno.errorcode.get(e.errno, str(e.errno))
comm = open(f'/proc/{agent}/cmdline', 'rb').read().split(b'\\0')
print(json.dumps({'is_agent': any(p.endswith(b'agent.py') for p in comm), 'mem': try_open(f'/proc/{agent}/mem', 'r+b'),
                  'environ': try_open(f'/proc/{agent}/environ', 'rb'), 'fds': try_fds()}))`);
    expect(out.is_agent).toBe(true);
    expect(out.mem).not.toBe('opened');
    expect(out.environ).not.toBe('opened');
    expect(typeof out.fds).toBe('string');
    // the agent still serves: a shell command runs through it
    const sh = await h.sc('shell_execute', { command: 'echo still-serving' });
    expect(String(sh.stdout)).toContain('still-serving');
  });
});
