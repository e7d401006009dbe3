// Shared by the race tests: their set-up (a server, a session, a canary), a process in the box that swaps a real folder
// and a symlink to a host folder in a loop (renameat2 RENAME_EXCHANGE), and canary folders outside the data dir that
// must come out untouched.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startStdio, type Harness, type StartOptions } from './harness.js';

/**
 * argv: FOLDER LINK SECONDS [REFILL_NAME]. Swaps FOLDER and LINK as fast as it can; with REFILL_NAME, keeps a file of
 * that name in the real folder (found through a descriptor, whatever its name is at the moment). Exits when both
 * names are gone for good (its folder was deleted) or after SECONDS.
 */
const SWAPPER = `import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
deadline = time.time() + float(sys.argv[3])
refill = sys.argv[4] if len(sys.argv) > 4 else None
real = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fails = 0
i = 0
while time.time() < deadline and fails < 200000:
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        fails += 1
    else:
        fails = 0
    i += 1
    if refill and i % 64 == 0:
        try:
            os.close(os.open(refill, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=real))
        except OSError:
            pass
`;

/** Writes the swapper into the workspace's .cache (never an artifact, never cleaned up). */
export async function installSwapper(h: Harness, sid: string): Promise<void> {
  await h.sc('execute', {
    session_id: sid,
    code: `import os\nos.makedirs('.cache', exist_ok=True)\nopen('.cache/swap.py','w').write(${JSON.stringify(SWAPPER)})`,
  });
}

/** Starts the swapper in the background (it outlives the call), with its working folder `cwd` (workspace-relative). */
export async function startSwapper(
  h: Harness,
  sid: string,
  opts: { cwd: string; folder: string; link: string; seconds: number; refill?: string },
): Promise<void> {
  const argv = [opts.folder, opts.link, String(opts.seconds), ...(opts.refill ? [opts.refill] : [])];
  const r = await h.sc('execute', {
    session_id: sid,
    code:
      'import subprocess, sys, os\n' +
      `p = subprocess.Popen([sys.executable, '/workspace/.cache/swap.py', *${JSON.stringify(argv)}], ` +
      `cwd=${JSON.stringify(opts.cwd)}, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n` +
      'p.pid',
  });
  if (r.status !== 'ok') throw new Error(`swapper did not start: ${JSON.stringify(r)}`);
}

/** Stops every swapper of the session. */
export async function stopSwappers(h: Harness, sid: string): Promise<void> {
  await h.sc('execute', {
    session_id: sid,
    code:
      'import os, signal\n' +
      "for p in [d for d in os.listdir('/proc') if d.isdigit()]:\n" +
      '    try:\n' +
      "        if b'.cache/swap.py' in open(f'/proc/{p}/cmdline','rb').read(): os.kill(int(p), signal.SIGKILL)\n" +
      '    except OSError: pass',
  });
}

export interface Canary {
  dir: string;
  /** Every file under the canary folder with its content, for comparing before and after. */
  snapshot(): Record<string, string>;
  remove(): void;
}

/** A host folder outside the data dir holding the given files (relative path → content). */
export function makeCanary(files: Record<string, string>): Canary {
  const dir = mkdtempSync(join(tmpdir(), 'race-canary-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  const snapshot = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const p = join(e.parentPath, e.name);
      out[relative(dir, p)] = e.isFile() ? readFileSync(p, 'utf8') : e.isDirectory() ? '<dir>' : '<other>';
    }
    return out;
  };
  return { dir, snapshot, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RaceSetup {
  h: Harness;
  sid: string;
  canary: Canary;
}

/**
 * For the tests of the file that calls it: a server (started with `opts`), a session in it with the swapper
 * installed, and a canary folder holding `files`; ready in beforeAll and gone in afterAll. Read the fields inside
 * the tests.
 */
export function raceSession(files: Record<string, string>, opts: StartOptions = {}): RaceSetup {
  const setup = {} as RaceSetup;
  beforeAll(async () => {
    setup.h = await startStdio(opts);
    setup.sid = (await setup.h.sc('create_session', {})).session_id as string;
    await installSwapper(setup.h, setup.sid);
    setup.canary = makeCanary(files);
  });
  afterAll(async () => {
    await setup.h?.close();
    setup.canary?.remove();
  });
  return setup;
}

/**
 * Runs `attempt` up to `tries` times, stopping at the first try after which the canary differs from what it held
 * before the first. `attempt` answers how much it achieved (files removed, a restore that succeeded), summed in `done`.
 */
export async function tryUntilCanaryChanges(
  canary: Canary,
  tries: number,
  attempt: () => Promise<number>,
): Promise<{ changed: Record<string, string> | null; done: number }> {
  const before = JSON.stringify(canary.snapshot());
  let done = 0;
  for (let i = 0; i < tries; i++) {
    done += await attempt();
    const now = canary.snapshot();
    if (JSON.stringify(now) !== before) return { changed: now, done };
  }
  return { changed: null, done };
}
