// The export smoke test: starts a bundle's app in a fresh, session-less box that holds only the exported files (and,
// read-only, the session's virtualenv when it has one), with the Dockerfile's command (or its nearest stand-in), and
// checks it answers HTTP. Never touches the bundle itself (it runs on a copy) and never leaves its box or temp folder
// behind.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { VENV_DIR, venvPaths, venvState } from '../packages/venv.js';
import type { Box } from '../sandbox/box.js';
import { boxOptions } from '../sandbox/box-options.js';
import { startBox } from '../sandbox/docker/backend.js';
import { startApp, stopApp } from './agent-ops.js';
import { showCommand, type SmokeCommand } from './commands.js';
import { LogRing } from './log-ring.js';
import { AppGoneError, waitForHttp } from './readiness.js';
import type { SmokeResult } from './types.js';
import { BOX_SOCKET_DIR } from './workspace-files.js';

const SMOKE_APP_ID = 'smoke';

export async function smokeTest(
  config: Config,
  bundleDir: string,
  cmd: SmokeCommand,
  dockerfileCommand: string[],
  timeoutMs: number,
  /** The session's workspace: its virtualenv, when usable, is the smoke box's Python, as it is the session's. */
  sessionWorkspace?: string,
): Promise<SmokeResult> {
  const t0 = performance.now();
  const base = join(config.dataDir, 'tmp');
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const tmp = mkdtempSync(join(base, 'smoke-'));
  const workspace = join(tmp, 'w');
  const sockets = join(tmp, 's');
  const mpl = join(tmp, 'm');
  cpSync(bundleDir, workspace, { recursive: true });
  mkdirSync(sockets);
  mkdirSync(mpl);
  const venv = sessionVenv(config, sessionWorkspace, workspace);
  const logs = new LogRing(400, 128 * 1024);
  let boxPort = '{port}';
  const result = (passed: boolean, status: number | null, note: string): SmokeResult => ({
    passed,
    command: showCommand(
      cmd.argv.map((a) => (a === '{python}' ? 'python' : a.replaceAll('{port}', boxPort))),
    ),
    dockerfile_command: showCommand(dockerfileCommand),
    same_as_dockerfile: cmd.same,
    http_status: status,
    duration_ms: Math.round(performance.now() - t0),
    note,
    log_tail: logs.tail(30),
  });
  let box: Box | null = null;
  const socketPath = join(sockets, `${SMOKE_APP_ID}.sock`);
  try {
    box = await startBox(config, {
      ...boxOptions(config, {
        name: `smoke-${randomBytes(6).toString('hex')}`,
        workspace,
        mplConfigDir: mpl,
        python: venv?.python,
        memoryMb: config.memoryMb,
      }),
      env: { SANDBOX_SOCKET_DIR: config.isolation === 'bwrap' ? BOX_SOCKET_DIR : sockets },
      extraRwBinds: config.isolation === 'bwrap' ? [{ host: sockets, box: BOX_SOCKET_DIR }] : [],
      extraRoBinds: venv?.binds ?? [],
    });
    const running = startApp(
      box,
      { op: 'app_start', app_id: SMOKE_APP_ID, argv: cmd.argv, cwd: '.', env: {} },
      (t) => logs.push(t),
    );
    boxPort = String((await running.started).port);
    const connect = box.appConnector(SMOKE_APP_ID);
    const ready = await waitForHttp(connect ? { connect } : { socketPath }, timeoutMs, running.exited);
    await stopApp(box, SMOKE_APP_ID).catch(() => undefined);
    return result(
      true,
      ready.status,
      `${cmd.note}; it answered HTTP ${ready.status} after ${Math.round(ready.ms)} ms`,
    );
  } catch (err) {
    const why =
      err instanceof AppGoneError
        ? 'the app exited before it answered HTTP'
        : err instanceof Error
          ? err.message
          : String(err);
    return result(false, null, `${cmd.note}; FAILED: ${why}`);
  } finally {
    await box?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The session's virtualenv as the smoke box sees it: bound read-only at the same /workspace/.venv (its scripts name
 * that path), over an empty folder in the copy. Null when the session has no usable venv.
 */
function sessionVenv(
  config: Config,
  sessionWorkspace: string | undefined,
  smokeWorkspace: string,
): { python: string; binds: Array<{ host: string; box: string }> } | null {
  if (sessionWorkspace === undefined || venvState(sessionWorkspace).state !== 'usable') return null;
  const paths = venvPaths(sessionWorkspace, config.isolation);
  if (config.isolation !== 'bwrap') return { python: paths.hostPython, binds: [] };
  mkdirSync(join(smokeWorkspace, VENV_DIR), { recursive: true });
  return { python: paths.boxPython, binds: [{ host: join(sessionWorkspace, VENV_DIR), box: paths.boxVenv }] };
}
