// A server killed with SIGKILL leaves its web apps' relay sockets and its boxes' cgroup folders behind (a pooled box's
// and its sessions'; on Docker, their containers); the next server on that data dir removes them at start, and only
// those of its own data dir.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerIds } from './docker-container.js';
import { TEST_BACKEND, connectHttp, startHttpProcess } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every cgroup folder named `id` under a sandbox-mcp parent (v1: one per controller; v2: one). */
function cgroupDirsOf(id: string): string[] {
  const roots = ['/sys/fs/cgroup', ...readdirSafe('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c))];
  return roots.map((r) => join(r, 'sandbox-mcp', id)).filter((d) => existsSync(d));
}

/** What a box named `id` holds on the host: its cgroup folders; on Docker, its containers in any state. */
function boxLeftovers(id: string): string[] {
  return TEST_BACKEND === 'docker' ? containerIds(id, true) : cgroupDirsOf(id);
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every process below pid (its boxes included), from /proc. */
function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const k of kids.get(p) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

async function until(fn: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) return false;
    await sleep(100);
  }
  return true;
}

describe('what a killed server leaves behind', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-crash-'));
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is removed by the next start: web-app sockets and the cgroups of pooled and session boxes', async () => {
    const first = await startHttpProcess({ dataDir, args: ['--pool-size', '1'] });
    const client = await connectHttp(first.url, first.token);
    const app = (
      await client.callTool({
        name: 'start_web_app',
        arguments: { code: '<!doctype html><p>left behind</p>', app_type: 'static' },
      })
    ).structuredContent as Record<string, any>;
    expect(app.status).toBe('running');
    const sid = app.session_id as string;
    const sockets = join(dataDir, 'sessions', sid, 'sockets');
    const appSockets = () => readdirSafe(sockets).filter((n) => n.startsWith('app-'));
    expect(appSockets()).toHaveLength(1);
    expect(await until(() => readdirSafe(join(dataDir, 'sessions')).length >= 2)).toBe(true);
    const pooled = readdirSafe(join(dataDir, 'sessions')).find((n) => n !== sid)!;
    // Where this machine gives boxes cgroups, the pooled box has its folders once it runs.
    const withCgroups = await until(() => boxLeftovers(pooled).length > 0, 10_000);
    expect(boxLeftovers(sid).length > 0).toBe(withCgroups);

    // The server and its boxes die at once, as when a service manager kills the server's whole cgroup.
    const tree = descendants(first.child.pid!);
    first.child.kill('SIGKILL');
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => first.child.once('exit', r));
    await client.close().catch(() => undefined);
    expect(appSockets()).toHaveLength(1);
    // a Docker box's container may end by itself once its attach stream is cut (its stdin ends)
    if (withCgroups && TEST_BACKEND !== 'docker') expect(boxLeftovers(pooled).length).toBeGreaterThan(0);

    const second = await startHttpProcess({ dataDir, token: first.token, args: ['--pool-size', '1'] });
    stops.push(second.stop);
    expect(await until(() => appSockets().length === 0, 10_000)).toBe(true);
    expect(await until(() => !existsSync(join(dataDir, 'sessions', pooled)))).toBe(true);
    if (withCgroups) {
      // the engine removes containers in its own time
      if (TEST_BACKEND === 'docker') await until(() => boxLeftovers(pooled).length === 0, 10_000);
      expect(boxLeftovers(pooled)).toEqual([]);
      expect(boxLeftovers(sid)).toEqual([]);
    } else {
      console.log('no box cgroups on this machine: only the sockets were checked');
    }
    // The session itself is still there and serves again.
    const again = await connectHttp(second.url, second.token);
    const res = await again.callTool({ name: 'execute', arguments: { session_id: sid, code: '6 * 7' } });
    const r = res.structuredContent as Record<string, any> | undefined;
    expect(r?.result?.['text/plain'], JSON.stringify(res.content)).toBe('42');
    await again.close();
  });
});
