// End-to-end: the Docker backend with `--docker-workspace volume` (the workspace a volume kept in step through the
// Engine API, as for an engine on another machine): files both ways, plots, rollback, a hostile box, a tcp:// engine.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, prepareBoxImage, startTestEngine } from './docker-engine.js';

const got = startTestEngine();
const skip = 'skip' in got ? got.skip : null;
if (skip) console.warn(`docker-volume: skipped, no Docker engine can run here: ${skip}`);
const env = engineEnv(got);
const socket = 'host' in got ? got.host.replace(/^unix:\/\//, '') : '';

/** The names of the engine's box volumes (each carries its session id). */
function boxVolumes(): string[] {
  const r = spawnSync('docker', ['volume', 'ls', '-q', '--filter', 'label=dev.sandbox-mcp.box'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return r.stdout.split('\n').filter(Boolean);
}

function workspaceOf(h: Harness, sessionId: string): string {
  return join(h.dataDir, 'sessions', sessionId, 'workspace');
}

describe.skipIf(skip !== null)('Docker boxes whose workspace is a volume', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    prepareBoxImage(CLI, env);
    h = await startStdio({
      args: [
        '--isolation',
        'docker',
        '--docker-workspace',
        'volume',
        '--memory-mb',
        '512',
        '--pool-size',
        '0',
      ],
      env,
    });
    sid = (await h.sc('create_session', {})).session_id as string;
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('mounts a volume at /workspace, not the host folder, and a file the code writes reaches read_file', async () => {
    const r = await h.sc('execute', {
      session_id: sid,
      code: [
        'import os',
        'open("made-in-box.txt", "w").write("from the box\\n")',
        'os.makedirs("deep/er", exist_ok=True)',
        'open("deep/er/data.bin", "wb").write(bytes(range(256)) * 1000)',
        'src = [l.split()[3] for l in open("/proc/self/mountinfo") if l.split()[4] == "/workspace"][0]',
        'src',
      ].join('\n'),
    });
    // the mount's root is the engine's volume folder, not the session's workspace folder
    expect(r.result['text/plain']).toMatch(/\/volumes\/sandbox-mcp-[^/]+-ws\/_data'$/);
    expect(r.result['text/plain']).not.toContain(h.dataDir);
    expect((await h.sc('read_file', { session_id: sid, path: 'made-in-box.txt' })).text).toBe(
      'from the box\n',
    );
    const bin = readFileSync(join(workspaceOf(h, sid), 'deep/er/data.bin'));
    expect(bin.equals(Buffer.from(Array.from({ length: 256000 }, (_, i) => i % 256)))).toBe(true);
    expect((await h.sc('read_file', { session_id: sid, path: 'deep/er/data.bin' })).size).toBe(256000);
  });

  it('write_file reaches the code, and deletions travel both ways', async () => {
    await h.sc('write_file', { session_id: sid, path: 'in/note.txt', text: 'héllo from the host' });
    const before = statSync(join(workspaceOf(h, sid), 'in/note.txt'));
    const r = await h.sc('execute', { session_id: sid, code: 'open("in/note.txt").read().upper()' });
    expect(r.result['text/plain']).toBe("'HÉLLO FROM THE HOST'");
    // the box's copy has the host's exact mtime: it is not taken for a change of the box's and does not come back
    const after = statSync(join(workspaceOf(h, sid), 'in/note.txt'));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    await h.sc('execute', { session_id: sid, code: 'import os; os.remove("made-in-box.txt")' });
    expect(existsSync(join(workspaceOf(h, sid), 'made-in-box.txt'))).toBe(false);
    const gone = await h.call('read_file', { session_id: sid, path: 'made-in-box.txt' });
    expect(errorOf(gone).code).toBe('not_found');
    await h.sc('write_file', { session_id: sid, path: 'in/note.txt', text: 'second' });
    const again = await h.sc('shell_execute', { session_id: sid, command: 'cat in/note.txt' });
    expect(again.stdout).toBe('second');
  });

  it('a plot made in the box is an artifact the host reads', async () => {
    const res = await h.call('execute', {
      session_id: sid,
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()',
    });
    expect(res.isError).toBeFalsy();
    const created = JSON.stringify(res.structuredContent);
    const path = created.match(/plots\/figure_\d+_1\.png/)?.[0];
    expect(path, created.slice(0, 800)).toBeDefined();
    const file = await h.sc('read_file', { session_id: sid, path: path! });
    expect(Buffer.from(file.base64, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('a rollback restores files the code then sees', async () => {
    await h.sc('execute', { session_id: sid, code: 'open("kept.txt", "w").write("version 1")' });
    await h.sc('backup_current_artifacts', { session_id: sid, backup_name: 'v1' });
    await h.sc('execute', {
      session_id: sid,
      code: 'import os\nopen("kept.txt", "w").write("version 2")\nopen("later.txt", "w").write("x")',
    });
    expect((await h.sc('read_file', { session_id: sid, path: 'kept.txt' })).text).toBe('version 2');
    await h.sc('rollback_to_backup', { session_id: sid, backup_name: 'v1' });
    const r = await h.sc('execute', {
      session_id: sid,
      code: 'import os\n(open("kept.txt").read(), os.path.exists("later.txt"))',
    });
    expect(r.result['text/plain']).toBe("('version 1', False)");
  });

  it('a hostile box loses nothing and writes nothing outside the workspace', async () => {
    const ws = workspaceOf(h, sid);
    await h.sc('write_file', { session_id: sid, path: 'precious/keep.txt', text: 'precious' });
    const r = await h.sc('execute', {
      session_id: sid,
      code: [
        'import os',
        'os.symlink("/etc", "etc")',
        'os.symlink("../../..", "up")',
        'os.makedirs("sub", exist_ok=True)',
        'os.symlink("../precious/keep.txt", "sub/inside")',
        'os.symlink("../sub/../..", "sub/sneaky")',
        'open("..evil", "w").write("dots")',
        'open("a..b", "w").write("dots too")',
        'os.mkfifo("pipe")',
        // the precious folder becomes a link out; the host keeps its own copy of the file
        'import shutil; shutil.rmtree("precious"); os.symlink("/etc", "precious")',
        '"done"',
      ].join('\n'),
    });
    expect(r.result['text/plain']).toBe("'done'");
    const kind = (p: string) => {
      try {
        const st = lstatSync(join(ws, p));
        return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      } catch {
        return 'absent';
      }
    };
    expect(kind('etc')).toBe('absent');
    expect(kind('up')).toBe('absent');
    expect(kind('sub/sneaky')).toBe('absent');
    expect(kind('pipe')).toBe('absent');
    expect(kind('sub/inside')).toBe('link');
    expect(readFileSync(join(ws, '..evil'), 'utf8')).toBe('dots');
    expect(readFileSync(join(ws, 'a..b'), 'utf8')).toBe('dots too');
    // the box replaced a folder by a link out: the host no longer has the folder, and no link to /etc either
    expect(kind('precious')).toBe('absent');
    expect(readdirSync(ws).some((n) => n.startsWith('.sandbox-sync-'))).toBe(false);
    // the code still sees its own links in the box
    const box = await h.sc('execute', {
      session_id: sid,
      code: 'import os\n(os.readlink("etc"), os.path.isdir("etc"))',
    });
    expect(box.result['text/plain']).toBe("('/etc', True)");
  });

  it('a cancelled call is interrupted though its id was handed out before the sync sent it', async () => {
    await h.sc('execute', { session_id: sid, code: 'kept = 41' });
    await h.sc('write_file', { session_id: sid, path: 'pending.txt', text: 'a push before the call' });
    const abort = new AbortController();
    const t0 = Date.now();
    const sleeping = h.call(
      'execute',
      { session_id: sid, code: 'import time\nstarted = True\ntime.sleep(40)\nfinished = True', timeout: 45 },
      { signal: abort.signal },
    );
    await new Promise((r) => setTimeout(r, 3000));
    abort.abort('stop');
    await expect(sleeping).rejects.toThrow();
    const next = await h.sc('execute', {
      session_id: sid,
      code: "(kept + 1, 'started' in globals(), 'finished' in globals())",
    });
    expect(next.result['text/plain']).toBe('(42, True, False)');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('the volumes go with their sessions', async () => {
    const s = (await h.sc('create_session', {})).session_id as string;
    await h.sc('execute', { session_id: s, code: '1' });
    const withIt = boxVolumes().filter((v) => v.includes(s));
    expect(withIt.length).toBe(2);
    await h.sc('close_session', { session_id: s });
    expect(boxVolumes().filter((v) => v.includes(s))).toEqual([]);
  });
});

describe.skipIf(skip !== null)('a tcp:// engine (one that does not share these files)', () => {
  let proxy: Server;
  let h: Harness;
  let port = 0;
  beforeAll(async () => {
    prepareBoxImage(CLI, env);
    // the private engine's socket reached over loopback TCP, as an engine on another machine would be
    proxy = createServer((c) => {
      const up = createConnection(socket);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    port = (proxy.address() as { port: number }).port;
    h = await startStdio({
      args: ['--isolation', 'docker', '--memory-mb', '512', '--pool-size', '0'],
      env: { ...env, DOCKER_HOST: `tcp://127.0.0.1:${port}` },
    });
  }, 25 * 60_000);
  afterAll(async () => {
    await h?.close();
    proxy?.close();
  });

  it('runs code with a volume workspace by auto, and files travel both ways', async () => {
    await h.sc('write_file', { path: 'hello.txt', text: 'over tcp' });
    const res = await h.call('execute', { code: '1' });
    expect(res.isError, JSON.stringify(res.content).slice(0, 600)).toBeFalsy();
    const r = await h.sc('execute', {
      code: 'open("back.txt", "w").write(open("hello.txt").read() + "!")\n"ok"',
    });
    expect(r.isolation).toBe('docker');
    expect((await h.sc('read_file', { path: 'back.txt' })).text).toBe('over tcp!');
  });
});
