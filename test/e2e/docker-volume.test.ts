// End-to-end: the Docker backend with `--docker-workspace volume` (the workspace a volume kept in step through the
// Engine API, as for an engine on another machine): files both ways, plots, rollback, a hostile box, a tcp:// engine.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, errorOf, startStdio, type Harness } from './harness.js';
import { engineEnv, engineForFile, prepareBoxImage } from './docker-engine.js';

const { engine, skip } = engineForFile('docker-volume');
const env = engineEnv(engine);
const socket = 'host' in engine ? engine.host.replace(/^unix:\/\//, '') : '';

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

/**
 * Watches the engine's own events for the commands it runs by `exec` in a session's container, from now until stop()
 * (a live subscription: the engine keeps only its last few hundred events for a later query).
 */
function watchExecs(sessionId: string): { stop(): Promise<string[]> } {
  const child = spawn(
    'docker',
    [
      'events',
      ...['--since', (Date.now() / 1000).toFixed(3)],
      ...['--filter', 'type=container', '--filter', 'event=exec_create'],
      ...['--filter', `label=dev.sandbox-mcp.box.session=${sessionId}`, '--format', '{{json .Action}}'],
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 1500)); // the events of the last call reach the subscription
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
      return out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string);
    },
  };
}

/** Python that writes a line of its own on the kernel's lane, through the kernel's own writer, for its own call. */
const FORGE = `
import sys
forge = sys.modules["_sandbox_agent.kernel_channel"].send
def own_id():
    return sys.modules["_sandbox_agent.kernel_display"].cell.rid
`;

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

  it("a call's changes come back with its completion: no exec lists the workspace", async () => {
    const s = (await h.sc('create_session', {})).session_id as string;
    await h.sc('execute', { session_id: s, code: 'pass' });
    const execs = watchExecs(s);
    for (let i = 0; i < 5; i++) await h.sc('execute', { session_id: s, code: 'pass' });
    await h.sc('execute', { session_id: s, code: 'open("from-cell.txt", "w").write("cell")' });
    const ws = workspaceOf(h, s);
    expect(readFileSync(join(ws, 'from-cell.txt'), 'utf8')).toBe('cell');
    expect(await execs.stop()).toEqual([]);
    // a shell's final comes from the agent's one loop, which never walks the workspace: its listing is read through exec
    const shell = watchExecs(s);
    await h.sc('shell_execute', { session_id: s, command: 'mkdir -p sh && printf shell > sh/out.txt' });
    expect(readFileSync(join(ws, 'sh/out.txt'), 'utf8')).toBe('shell');
    expect((await shell.stop()).filter((c) => c.includes('workspace_listing.py'))).toEqual([
      expect.stringMatching(/workspace_listing\.py \[\] list$/),
    ]);
    // a call whose kernel died has no completion of its own: the listing is read through exec, and nothing is lost
    const more = watchExecs(s);
    const died = await h.sc('execute', {
      session_id: s,
      code: 'open("before-death.txt", "w").write("kept")\nimport os; os._exit(3)',
    });
    expect(died.status).toBe('killed');
    expect(readFileSync(join(ws, 'before-death.txt'), 'utf8')).toBe('kept');
    expect(await more.stop()).toEqual([expect.stringMatching(/workspace_listing\.py \[\] list$/)]);
    await h.sc('close_session', { session_id: s });
  });

  it('a cell that ends just before its timeout in a large workspace is ok and keeps its kernel', async () => {
    const s = (await h.sc('create_session', {})).session_id as string;
    const ws = workspaceOf(h, s);
    // 100 folders of 1000 files (the box's walk of it takes a good part of a second), sent in by quarters: each call
    // that sends them stays well within the client's own request timeout
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(ws, `d${d}`));
      for (let i = 0; i < 1000; i++) writeFileSync(join(ws, `d${d}`, `f${i}`), '');
      if (d % 25 === 24) expect((await h.sc('execute', { session_id: s, code: 'x = 41' })).status).toBe('ok');
    }
    const execs = watchExecs(s);
    const t0 = Date.now();
    const r = await h.sc('execute', {
      session_id: s,
      code: 'import time\ntime.sleep(2.7)\nx += 1', // 0.3 s before its timeout: too little for the walk
      timeout: 3,
    });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.status).toBe('ok');
    // the kernel was neither stopped nor replaced: its state is there
    const next = await h.sc('execute', { session_id: s, code: 'x' });
    expect(next.status).toBe('ok');
    expect(next.state_preserved).toBe(true);
    expect(next.result['text/plain']).toBe('42');
    // the cell's walk was skipped (too little time left), so it was listed through exec; a workspace this large is
    // then not asked for again with each call (no walk in the box and then through exec too)
    const listings = (await execs.stop()).filter((c) => c.includes('workspace_listing.py'));
    expect(listings).toHaveLength(2);
    // once an exec listing is small, the listing comes with the completion again
    await h.sc('shell_execute', { session_id: s, command: 'rm -rf d*' });
    const small = watchExecs(s);
    await h.sc('execute', { session_id: s, code: 'open("small.txt", "w").write("small")' });
    expect(readFileSync(join(ws, 'small.txt'), 'utf8')).toBe('small');
    expect(existsSync(join(ws, 'd0'))).toBe(false);
    expect(await small.stop()).toEqual([]);
    await h.sc('close_session', { session_id: s });
  }, 400_000);

  it("a listing forged by the box's code is refused whole and loses nothing on the host", async () => {
    const s = (await h.sc('create_session', {})).session_id as string;
    const ws = workspaceOf(h, s);
    await h.sc('write_file', { session_id: s, path: 'precious/keep.txt', text: 'precious' });
    await h.sc('write_file', { session_id: s, path: 'other.txt', text: 'other' });
    await h.sc('execute', { session_id: s, code: 'pass' });
    // the code's own end of the call, whose listing leaves out everything the host has and names a path out
    const forged = [
      ['fresh.txt', 'f', 5, '1'],
      ['../escaped.txt', 'f', 5, '1'],
    ]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const r = await h.sc('execute', {
      session_id: s,
      code: [
        FORGE,
        'open("fresh.txt", "w").write("fresh")',
        `forge({"type": "done", "id": own_id(), "status": "ok", "error": None, "workspace_listing": ${JSON.stringify(forged + '\n')}})`,
        'import time; time.sleep(1)',
      ].join('\n'),
    });
    expect(r.status).toBe('ok');
    // refused as a whole: nothing was deleted, nothing written (not even the one well-formed entry), nothing outside
    expect(readFileSync(join(ws, 'precious/keep.txt'), 'utf8')).toBe('precious');
    expect(readFileSync(join(ws, 'other.txt'), 'utf8')).toBe('other');
    expect(existsSync(join(ws, 'fresh.txt'))).toBe(false);
    expect(existsSync(join(ws, '..', 'escaped.txt'))).toBe(false);
    // the box kept its files: the next call's real listing brings back what the code wrote
    await h.sc('execute', { session_id: s, code: 'import time; time.sleep(1.5)' });
    expect(readFileSync(join(ws, 'fresh.txt'), 'utf8')).toBe('fresh');
    expect(readFileSync(join(ws, 'precious/keep.txt'), 'utf8')).toBe('precious');
    // a listing of the wrong type breaks the protocol like any malformed message: the box is replaced
    const bad = await h.sc('execute', {
      session_id: s,
      code: `${FORGE}\nforge({"type": "done", "id": own_id(), "status": "ok", "error": None, "workspace_listing": 5})\nimport time; time.sleep(2)`,
    });
    expect(bad.status).toBe('error');
    expect(bad.error.message).toMatch(/broke its protocol/);
    expect(readFileSync(join(ws, 'precious/keep.txt'), 'utf8')).toBe('precious');
    expect(readFileSync(join(ws, 'fresh.txt'), 'utf8')).toBe('fresh');
    await h.sc('close_session', { session_id: s });
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
