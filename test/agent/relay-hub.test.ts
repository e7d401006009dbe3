// The agent's relay hub in a real process: a failed upstream connect closes both sockets at once, an accept pause
// lasts its own length while connections have deadlines, and traffic does not make the hub scan every connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../e2e/until.js';
import { PYTHON } from './agent-client.js';

const AGENT_DIR = fileURLToPath(new URL('../../src/agent/', import.meta.url));

// Runs one scenario against src/agent/relay.py; prints JSON lines on stdout, the relay logs on stderr.
const DRIVER = `
import json, os, resource, socket, sys, threading, time
import relay

def say(**kw):
    print(json.dumps(kw), flush=True)

def fds():
    return len(os.listdir('/proc/%d/fd' % os.getpid()))

def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port

def until(cond, s=5.0):
    end = time.monotonic() + s
    while not cond():
        if time.monotonic() > end:
            raise SystemExit('timed out')
        time.sleep(0.01)

def echo_server(path):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(256)
    def serve(c):
        with c:
            while data := c.recv(65536):
                c.sendall(data)
    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()

scenario, tmp = sys.argv[1], sys.argv[2]
port = free_port()
if scenario == 'connect-fails':
    # A Unix path longer than an address holds: connect() raises instead of returning an error number.
    relay.tcp_to_unix(port, os.path.join(tmp, 'x' * 200))
    until(lambda: relay._hub.relays)
    base = fds()
    closed = 0
    for _ in range(20):
        c = socket.create_connection(('127.0.0.1', port), timeout=5)
        try:
            closed += c.recv(1) == b''
        except ConnectionResetError:
            closed += 1
        c.close()
    until(lambda: not relay._hub.pairs)
    say(base=base, after=fds(), closed=closed)
elif scenario == 'accept-pause':
    # Room for one pair of sockets: the next accept fails (out of descriptors) until it closes.
    relay.tcp_to_unix(port, sys.argv[3], idle_s=60)
    until(lambda: relay._hub.relays)
    limit = max(int(fd) for fd in os.listdir('/proc/self/fd')) + 3
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    filler = []
    while (fd := os.open('/dev/null', os.O_RDONLY)) < limit - 2:
        filler.append(fd)  # the lowest free descriptor comes first: every hole below the last two is filled
    os.close(fd)
    say(port=port)
    sys.stdin.read()
elif scenario == 'scan':
    path = os.path.join(tmp, 'echo.sock')
    echo_server(path)
    relay.tcp_to_unix(port, path, idle_s=60)
    calls = [0]
    deadline = relay._Pair.deadline
    def counted(self):
        calls[0] += 1
        return deadline(self)
    relay._Pair.deadline = counted
    clients = [socket.create_connection(('127.0.0.1', port), timeout=5) for _ in range(int(sys.argv[3]))]
    for c in clients:
        c.sendall(b'x')
        assert c.recv(1) == b'x'
    calls[0] = 0
    t0 = time.monotonic()
    for _ in range(int(sys.argv[4])):
        clients[0].sendall(b'y')
        assert clients[0].recv(1) == b'y'
    say(calls=calls[0], seconds=time.monotonic() - t0)
`;

const dir = mkdtempSync(join(tmpdir(), 'relay-hub-'));
writeFileSync(join(dir, 'driver.py'), DRIVER);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  lines: Array<Record<string, number>>;
  stderr: () => string;
  /** When each stderr line came (performance.now()), in order. */
  stderrLines: Array<{ at: number; line: string }>;
  next: () => Promise<Record<string, number>>;
  end: () => Promise<number | null>;
}

/** Starts the driver on a scenario, with ResourceWarning shown: a socket left to the collector says so. */
function run(...args: string[]): Run {
  const child = spawn(PYTHON, ['-W', 'always::ResourceWarning', join(dir, 'driver.py'), ...args], {
    env: { PATH: '/usr/bin:/bin', PYTHONPATH: AGENT_DIR },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  const stderrLines: Array<{ at: number; line: string }> = [];
  const lines: Array<Record<string, number>> = [];
  const waiting: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(out.slice(0, i)) as Record<string, number>);
      out = out.slice(i + 1);
      waiting.splice(0).forEach((w) => w());
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    const at = performance.now();
    err += d.toString();
    partial += d.toString();
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      stderrLines.push({ at, line: partial.slice(0, i) });
      partial = partial.slice(i + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let taken = 0;
  return {
    lines,
    stderr: () => err,
    stderrLines,
    next: async () => {
      while (lines.length <= taken) {
        const more = new Promise<void>((r) => waiting.push(r));
        const code = await Promise.race([more.then(() => undefined), exited]);
        if (code !== undefined && lines.length <= taken) throw new Error(`driver exited ${code}: ${err}`);
      }
      return lines[taken++]!;
    },
    end: () => {
      child.stdin.end();
      return exited;
    },
  };
}

function ping(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.write('ping\n');
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('agent relay hub', () => {
  it('closes both sockets itself when the upstream connect fails, and leaves no descriptor open', async () => {
    const r = run('connect-fails', dir);
    const got = await r.next();
    expect(await r.end()).toBe(0);
    expect(got.closed).toBe(20);
    expect(got.after).toBe(got.base);
    // Closed by the relay, not by the garbage collector after the error went by.
    expect(r.stderr()).not.toContain('ResourceWarning');
    expect(r.stderr()).toContain('AF_UNIX path too long');
  });

  it('retries a failed accept after its pause, not a deadline tick later, and serves the waiting connection', async () => {
    const up = join(dir, 'up.sock');
    const server: Server = createServer((c) => c.on('data', (d) => c.write(d)));
    await new Promise<void>((resolve) => server.listen(up, resolve));
    const r = run('accept-pause', dir, up);
    try {
      const { port } = await r.next();
      const first = await open(port!);
      expect(await ping(first, 5000)).toBe(true); // the one pair the descriptors allow
      const waiting = await open(port!); // in the backlog: accepting it fails until a pair closes
      const retries = (): number[] =>
        r.stderrLines.filter((l) => l.line.includes('relay accept failed')).map((l) => l.at);
      await until(() => retries().length >= 6, 'six failed accepts', 10_000);
      // ACCEPT_PAUSE_S is 0.2 s, TICK_S 1 s: the middle gap between tries, as they reach us, sits near 0.2 s, or near
      // 1 s when the pause waits for the tick. Half a tick tells them apart with room for a loaded machine.
      const at = retries();
      const gaps = at
        .slice(1)
        .map((t, i) => t - at[i]!)
        .sort((a, b) => a - b);
      expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(500);
      first.destroy();
      expect(await ping(waiting, 5000)).toBe(true);
      waiting.destroy();
    } finally {
      await r.end();
      server.close();
    }
  }, 20_000);

  it('checks connection deadlines once a tick, not on every wake', async () => {
    const pairs = 50;
    const r = run('scan', dir, String(pairs), '400');
    const { calls, seconds } = await r.next();
    await r.end();
    // 400 round trips wake the hub over 800 times; a scan of every pair on each wake is 40,000 calls.
    expect(calls).toBeLessThanOrEqual(pairs * (Math.ceil(seconds!) + 2));
  }, 20_000);
});
