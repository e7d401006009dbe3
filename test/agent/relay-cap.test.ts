// A flood of connections to a web app's relay socket: the agent holds at most the cap, keeps answering, and serves
// the connections that waited once slots free up.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../e2e/until.js';
import { AgentClient } from './agent-client.js';

const CAP = 64; // src/agent/relay.py MAX_CONNECTIONS
const EXTRA = 100;
// Bounds on a busy machine: the agent answers within this, and a wrong second accept after a slot frees shows within
// GRACE_MS (the relay takes a waiting connection on its next wake, well under a second).
const ANSWER_MS = 5000;
const GRACE_MS = 1500;

// Counts the connections it accepted (in accepted.txt) and answers "ping" with "pong" on each.
const COUNTER_APP = `
import os, socket, threading
srv = socket.create_server(('127.0.0.1', int(os.environ['PORT'])), backlog=1024)
accepted = 0
def serve(c):
    with c:
        for line in c.makefile('rb'):
            if line.strip() == b'ping':
                c.sendall(b'pong\\n')
while True:
    c, _ = srv.accept()
    accepted += 1
    with open('accepted.tmp', 'w') as f:
        f.write(str(accepted))
    os.replace('accepted.tmp', 'accepted.txt')
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

function open(path: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null)); // refused: the relay's backlog is full
  });
}

/** Resolves with the first line the socket answers to "ping", or null when none comes within ms. */
function ping(s: Socket, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => resolve(null), ms);
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) {
        clearTimeout(timer);
        resolve(got.trim());
      }
    });
    s.write('ping\n');
  });
}

function threadsOf(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('agent: web app relay under a connection flood', () => {
  let agent: AgentClient;
  let sock: string;
  beforeAll(async () => {
    agent = await AgentClient.start();
    writeFileSync(join(agent.workspace, 'counter.py'), COUNTER_APP);
    void agent
      .request('app_start', { app_id: 'flood', argv: ['{python}', 'counter.py'], cwd: '.' })
      .reply.catch(() => {});
    sock = join(agent.workspace, '.sandbox', 'sockets', 'flood.sock');
    const answers = async (): Promise<boolean> => {
      const s = await open(sock);
      const answer = s ? await ping(s, 1000) : null;
      s?.destroy();
      return answer === 'pong';
    };
    await until(answers, 'the app to answer', 15_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; agent stderr: ${agent.stderr}`);
    });
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('holds at most the cap, keeps answering, and serves a waiting connection once a slot frees', async () => {
    const accepted = (): number => Number(readFileSync(join(agent.workspace, 'accepted.txt'), 'utf8'));
    const before = accepted(); // the probe connections are counted already: the app counts on accept
    const socks = await Promise.all(Array.from({ length: CAP + EXTRA }, () => open(sock)));
    const held = socks.filter((s): s is Socket => s !== null);
    expect(held.length).toBeGreaterThan(CAP); // the rest wait in the backlog (or were refused)
    await until(() => accepted() - before >= CAP, `the relay to take ${CAP} connections`, 15_000);

    // The agent answers and holds no thread per connection.
    const t0 = performance.now();
    const r = await agent.request('ping').reply;
    expect(r.final.status).toBe('ok');
    expect(performance.now() - t0).toBeLessThan(ANSWER_MS);
    expect(threadsOf(agent.ready.pid)).toBeLessThanOrEqual(4);

    // Which connections the relay took: those that answer. The others wait in the backlog, in the kernel's order,
    // which need not be the order of the connect calls above.
    const got = await Promise.all(held.map((s) => ping(s, ANSWER_MS)));
    const waiting = held.filter((_, i) => got[i] === null);
    expect(got.filter((g) => g === 'pong')).toHaveLength(CAP);
    expect(waiting).toHaveLength(held.length - CAP);
    expect(accepted() - before).toBe(CAP);
    // A slot frees: one waiting connection is taken, and answers the ping it sent while it waited; only one.
    let answered = 0;
    for (const s of waiting) s.once('data', () => answered++);
    held[got.indexOf('pong')]!.destroy();
    await until(() => answered >= 1, 'a waiting connection to be answered', 15_000);
    // A wrong second accept would follow the first within the grace: none may come.
    await new Promise((r) => setTimeout(r, GRACE_MS));
    expect(answered).toBe(1);
    expect(accepted() - before).toBe(CAP + 1);

    for (const s of held) s.destroy();
    const again = await open(sock);
    expect(again).not.toBeNull();
    expect(await ping(again!, 5000)).toBe('pong');
    again!.destroy();
  }, 60_000);
});
