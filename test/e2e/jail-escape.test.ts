// The core_pattern escape and its relatives, tried through the real server as an attacker would: box code must never reach host root, global sysctls, host paths or setuid files.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, TEST_BACKEND, backend, startStdio, type Harness } from './harness.js';

let h: Harness;
let workspace: string;

beforeAll(async () => {
  h = await startStdio();
  const first = await h.sc('execute', { code: 'x = 1' });
  workspace = join(h.dataDir, 'sessions', first.session_id as string, 'workspace');
}, 120_000);
afterAll(() => h?.close());

async function run(code: string): Promise<Record<string, any>> {
  const r = await h.sc('execute', { code });
  if (r.status !== 'ok') throw new Error(`execute failed: ${JSON.stringify(r).slice(0, 2000)}`);
  return JSON.parse((r.stdout as string).trim().split('\n').pop() ?? '{}') as Record<string, any>;
}

describe('a session cannot reach the host', () => {
  it('finds no host path to aim core_pattern at: not in /proc/1/environ, /proc/1/cmdline, PWD', async () => {
    const out = await run(`
import json, os
def rd(p):
    try: return open(p, 'rb').read().decode('utf8', 'replace')
    except OSError: return ''
print(json.dumps({'text': rd('/proc/1/environ') + rd('/proc/1/cmdline') + rd('/proc/self/environ') + os.environ.get('PWD', '') + os.getcwd()}))`);
    for (const host of new Set([h.dataDir, realpathSync(h.dataDir), process.cwd()]))
      expect(out.text).not.toContain(host);
  });

  it('cannot open core_pattern, drop_caches or sysrq-trigger for writing (opening changes nothing)', async () => {
    const out = await run(`
import errno, json, os
def w(p):
    try:
        os.close(os.open(p, os.O_WRONLY)); return 'writable'
    except OSError as e: return errno.errorcode[e.errno]
print(json.dumps({p: w(p) for p in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sys/kernel/modprobe', '/proc/sysrq-trigger') if os.path.exists(p)}))`);
    expect(out['/proc/sys/kernel/core_pattern']).toBeDefined();
    for (const [path, v] of Object.entries(out)) expect([path, v]).not.toEqual([path, 'writable']);
  });

  it('the same through shell_execute: a redirect into /proc/sys fails', async () => {
    const r = await h.call('shell_execute', { command: ': > /proc/sys/vm/drop_caches && echo opened' });
    // an error result (a policy denial) carries no structuredContent
    const sc = (r.structuredContent ?? {}) as Record<string, any>;
    // denied by the policy, or run and refused by the kernel: either way nothing was opened
    expect(String(sc.stdout ?? '')).not.toContain('opened');
    expect(r.isError === true || sc.exit_code !== 0).toBe(true);
  });

  it('runs as an unprivileged host uid: files it makes are not root-owned on the host', async () => {
    await run(`
import json
open('/workspace/made-in-box', 'w').write('x')
print(json.dumps({}))`);
    const st = statSync(join(workspace, 'made-in-box'));
    expect(st.uid).not.toBe(0);
    if (process.getuid?.() !== 0) expect(st.uid).toBe(process.getuid?.());
  });

  it('cannot leave a setuid or setgid file in the data dir', async () => {
    const out = await run(`
import errno, json, os, shutil, subprocess
def t(f):
    try: f(); return 'ok'
    except OSError as e: return errno.errorcode[e.errno]
shutil.copy('/usr/bin/id', '/workspace/id-copy')
res = {'chmod': t(lambda: os.chmod('/workspace/id-copy', 0o4755)),
  'create': t(lambda: os.close(os.open('/workspace/sgid-new', os.O_CREAT | os.O_WRONLY, 0o2755))),
  'shell': subprocess.run(['chmod', '4755', '/workspace/id-copy'], capture_output=True).returncode}
print(json.dumps(res))`);
    expect(out.chmod).toBe('EPERM');
    expect(out.create).toBe('EPERM');
    expect(out.shell).not.toBe(0);
    for (const name of ['id-copy', 'sgid-new']) {
      let mode = 0;
      try {
        mode = statSync(join(workspace, name)).mode;
      } catch {
        // never created
      }
      expect(mode & 0o6000).toBe(0);
    }
  });

  it('still owns what the server writes for it: a write_file file can be changed and removed by the box', async () => {
    const w = await h.call('write_file', { path: 'sub/from-server.txt', text: 'one' });
    expect(w.isError, JSON.stringify(w.content)).toBeFalsy();
    const out = await run(`
import json, os
with open('sub/from-server.txt', 'a') as f: f.write(' two')
open('sub/new.txt', 'w').write('x')
text = open('sub/from-server.txt').read()
os.remove('sub/new.txt')
print(json.dumps({'text': text}))`);
    expect(out.text).toBe('one two');
  });

  it('get_sandbox_limitations tells the truth about the host identity', async () => {
    const sc = await h.sc('get_sandbox_limitations', {});
    const text = JSON.stringify(sc);
    expect(text).toMatch(/host uid \d+/);
    expect(text).not.toMatch(/host uid 0\b/);
  });
});

describe.skipIf(process.getuid?.() !== 0)("--box-uid chooses the host uid of a root server's boxes", () => {
  it('runs boxes as the given uid:gid, and refuses root', async () => {
    const other = await startStdio({ args: ['--box-uid', '64555:64556'] });
    try {
      const r = await other.sc('execute', { code: "open('/workspace/who', 'w').write('x')" });
      const st = statSync(join(other.dataDir, 'sessions', r.session_id as string, 'workspace', 'who'));
      expect([st.uid, st.gid]).toEqual([64555, 64556]);
    } finally {
      await other.close();
    }
    const scratch = mkdtempSync(join(tmpdir(), 'sandbox-mcp-boxuid-'));
    const bad = spawnSync(
      process.execPath,
      [CLI, 'serve', '--port', '0', '--data-dir', scratch, '--box-uid', '0'],
      {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
      },
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/box uid/);
    rmSync(scratch, { recursive: true, force: true });
  });
});

describe('doctor probes each protection from inside a real box', () => {
  // On Docker, the Docker section's equivalents: the container user, no capabilities, no-new-privileges, no setuid.
  const docker = TEST_BACKEND === 'docker';
  const names = docker
    ? ['non_root_user', 'no_capabilities', 'no_new_privileges', 'no_setuid']
    : ['host_identity', 'proc_protected', 'no_host_paths', 'no_setuid'];
  it(`reports ${names.join(', ')} as enforced`, () => {
    const out = execFileSync(process.execPath, [CLI, 'doctor', ...backend().args, '--json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...backend().env },
      timeout: 120_000,
    }).toString();
    type Rows = Array<{ name: string; enforced: boolean; detail: string }>;
    const report = JSON.parse(out) as { protections: Rows; docker?: { protections: Rows } };
    const rows = docker ? (report.docker?.protections ?? []) : report.protections;
    const by = Object.fromEntries(rows.map((p) => [p.name, p]));
    for (const name of names) {
      expect(by[name], name).toBeDefined();
      expect([name, by[name]?.enforced, by[name]?.detail]).toEqual([name, true, by[name]?.detail]);
    }
    expect(by[names[0]!]?.detail).not.toMatch(/uid 0\b/);
    expect(readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).not.toContain('workspace');
  });
});
