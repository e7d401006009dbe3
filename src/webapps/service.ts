// The web-apps service: starts apps inside a session's box, relays each to a keyed host port (127.0.0.2), keeps their
// logs, and stops them with their session or box. It never runs app code outside a box and never builds MCP content.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import type { Box } from '../sandbox/box.js';
import type { SessionService } from '../sessions/service.js';
import { checkWebAppRoom } from '../sessions/caps.js';
import { startApp, stopApp, type AppExit } from './agent-ops.js';
import { detectAppType, entryFile, requestedAppType, sessionCommand } from './commands.js';
import { HostRelay } from './host-relay.js';
import { LogRing, lastTraceback } from './log-ring.js';
import { AppGoneError, ReadyTimeoutError, waitForHttp } from './readiness.js';
import type { AppLogs, AppType, AppTypeArg, StartedApp, WebAppInfo } from './types.js';
import { BOX_SOCKET_DIR, hostSocketDir, workspaceFolder, writeAppFile } from './workspace-files.js';

export interface StartAppArgs {
  code?: string | undefined;
  app_type?: AppTypeArg | undefined;
  session_id?: string | undefined;
  /** Host port for the URL; omitted: a free one. */
  port?: number | undefined;
  /** static only: serve this workspace folder instead of code. */
  directory?: string | undefined;
  ready_timeout_s?: number | undefined;
}

/** Where an app's code came from, for export. */
export interface AppSource {
  sessionId: string;
  appType: AppType;
  /** Workspace-relative file (or folder, for static). */
  source: string;
}

interface AppRecord {
  info: WebAppInfo;
  owner: string;
  box: Box;
  relay: HostRelay | null;
  logs: LogRing;
  exited: Promise<AppExit> | null;
  stopRequested: boolean;
}

const STOP_WAIT_MS = 5000;
const ENDED_KEPT_PER_OWNER = 50;
const ERROR_TAIL_LINES = 40;

export class WebAppService {
  private readonly apps = new Map<string, AppRecord>();
  /** Starts that passed the cap check but have no record yet (app id → owner): they count against the cap too. */
  private readonly reserved = new Map<string, string>();
  private readonly readyTimeoutMs: number;

  constructor(
    private readonly config: Config,
    private readonly sessions: SessionService,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void = () => {},
    opts: { readyTimeoutMs?: number } = {},
  ) {
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    sessions.addBoxCustomizer(({ sessionId }, box) => {
      const dir = hostSocketDir(config.dataDir, sessionId);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (box.isolation === 'bwrap') {
        box.extraRwBinds = [...(box.extraRwBinds ?? []), { host: dir, box: BOX_SOCKET_DIR }];
        box.env = { ...box.env, SANDBOX_SOCKET_DIR: BOX_SOCKET_DIR };
      } else {
        box.env = { ...box.env, SANDBOX_SOCKET_DIR: dir };
      }
    });
    sessions.events.on('closed', (id) => void this.dropSession(id));
    sessions.events.on('box-started', (id, box) => {
      for (const rec of this.apps.values()) {
        if (rec.info.session_id === id && rec.box !== box)
          void this.ended(rec, null, 'the sandbox restarted');
      }
    });
  }

  async start(owner: string, args: StartAppArgs): Promise<StartedApp> {
    const type = resolveType(args);
    const timeoutMs = args.ready_timeout_s !== undefined ? args.ready_timeout_s * 1000 : this.readyTimeoutMs;
    if (!(timeoutMs > 0) || timeoutMs > 600_000)
      throw invalidArgument('ready_timeout_s must be between 0 and 600');
    if (
      args.port !== undefined &&
      !(Number.isInteger(args.port) && args.port >= 1024 && args.port <= 65535)
    ) {
      throw invalidArgument('port must be an integer between 1024 and 65535 (omit it for a free port)');
    }
    const appId = 'app-' + randomBytes(6).toString('hex');
    this.reserve(owner, appId);
    const starting = this.sessions.useBox(
      owner,
      args.session_id,
      async (box, session) => {
        const source =
          type === 'static' && args.directory !== undefined
            ? workspaceFolder(session.workspace, args.directory)
            : await writeAppFile(session.workspace, appId, entryFile(type), args.code ?? '');
        const served = type === 'static' && args.directory === undefined ? `apps/${appId}` : source;
        const relay = await HostRelay.listen(
          join(hostSocketDir(this.config.dataDir, session.sessionId), `${appId}.sock`),
          args.port ?? 0,
          box.appConnector(appId),
        );
        relay.onUse = () => this.sessions.markUsed(session.sessionId); // app traffic keeps the session running
        const rec: AppRecord = {
          info: {
            app_id: appId,
            session_id: session.sessionId,
            app_type: type,
            status: 'starting',
            url: relay.url,
            host_port: relay.port,
            box_port: null,
            pid: null,
            source: served,
            started_at: new Date().toISOString(),
            stopped_at: null,
            exit_code: null,
            stop_reason: null,
          },
          owner,
          box,
          relay,
          logs: new LogRing(),
          exited: null,
          stopRequested: false,
        };
        this.apps.set(appId, rec);
        this.prune(owner);
        const cmd = sessionCommand(type, served);
        const running = startApp(box, { op: 'app_start', app_id: appId, ...cmd }, (t) => rec.logs.push(t));
        rec.exited = running.exited;
        running.exited.then(
          (exit) => void this.ended(rec, exit, exit.stopped || rec.stopRequested ? 'stopped' : exit.error),
          () => void this.ended(rec, null, 'the sandbox stopped'),
        );
        try {
          const started = await running.started;
          rec.info.pid = started.pid;
          rec.info.box_port = started.port;
          const ready = await waitForHttp({ url: relay.url }, timeoutMs, running.exited);
          if (rec.info.status === 'starting') rec.info.status = 'running';
          return {
            ...rec.info,
            ready_ms: Math.round(ready.ms),
            http_status: ready.status,
            first_logs: rec.logs.first(20),
          };
        } catch (err) {
          throw await this.startFailure(rec, err, timeoutMs);
        }
      },
      { queued: false },
    );
    const release = () => void this.reserved.delete(appId);
    starting.then(release, release);
    return starting;
  }

  /** Holds a place under the client's web-app cap for a start under way, or throws resource_exhausted. */
  private reserve(owner: string, appId: string): void {
    let running = 0;
    for (const r of this.apps.values()) {
      if (r.owner === owner && (r.info.status === 'starting' || r.info.status === 'running')) running++;
    }
    for (const [id, o] of this.reserved) if (o === owner && !this.apps.has(id)) running++;
    checkWebAppRoom(this.config, running);
    this.reserved.set(appId, owner);
  }

  list(owner: string, sessionId?: string): WebAppInfo[] {
    return [...this.apps.values()]
      .filter((r) => r.owner === owner && (sessionId === undefined || r.info.session_id === sessionId))
      .map((r) => ({ ...r.info }));
  }

  async stop(owner: string, appId: string): Promise<WebAppInfo> {
    const rec = this.owned(owner, appId);
    if (rec.info.status === 'starting' || rec.info.status === 'running') {
      rec.stopRequested = true;
      await stopApp(rec.box, appId).catch((err: unknown) =>
        this.log('app_stop failed', { appId, err: String(err) }),
      );
      const exited = rec.exited?.catch(() => null) ?? Promise.resolve(null);
      await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
      await this.ended(rec, null, 'stopped');
    }
    return { ...rec.info };
  }

  logs(owner: string, appId: string, tail = 100): AppLogs {
    const rec = this.owned(owner, appId);
    if (!(Number.isInteger(tail) && tail >= 1 && tail <= 2000))
      throw invalidArgument('tail must be between 1 and 2000');
    return {
      app_id: appId,
      status: rec.info.status,
      lines: rec.logs.tail(tail),
      total_lines: rec.logs.totalLines,
      truncated: rec.logs.totalLines > rec.logs.kept,
    };
  }

  source(owner: string, appId: string): AppSource {
    const rec = this.owned(owner, appId);
    return { sessionId: rec.info.session_id, appType: rec.info.app_type, source: rec.info.source };
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.apps.values()].map((r) => r.relay?.close()));
  }

  private owned(owner: string, appId: string): AppRecord {
    const rec = this.apps.get(appId);
    if (!rec || rec.owner !== owner) {
      throw notFound('web app', appId, 'call list_web_apps to see your apps');
    }
    return rec;
  }

  /** Marks an app ended and frees its host port; the first caller's reason wins. */
  private async ended(rec: AppRecord, exit: AppExit | null, reason: string | null): Promise<void> {
    if (rec.info.status === 'starting' || rec.info.status === 'running') {
      rec.info.status = rec.stopRequested || reason !== null ? 'stopped' : 'exited';
      rec.info.stop_reason = reason ?? 'the app exited';
      rec.info.stopped_at = new Date().toISOString();
      rec.info.url = null;
    }
    if (exit && rec.info.exit_code === null)
      rec.info.exit_code = exit.exitCode ?? (exit.signal ? -exit.signal : null);
    const relay = rec.relay;
    rec.relay = null;
    await relay?.close();
  }

  private async startFailure(rec: AppRecord, err: unknown, timeoutMs: number): Promise<SandboxError> {
    const gone = err instanceof AppGoneError;
    if (!gone && rec.info.status !== 'exited') {
      rec.stopRequested = true;
      await stopApp(rec.box, rec.info.app_id).catch(() => undefined);
      await Promise.race([rec.exited?.catch(() => null), new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
    }
    await this.ended(rec, null, gone ? null : 'did not answer HTTP in time');
    const tail = rec.logs.tail(ERROR_TAIL_LINES);
    const traceback = lastTraceback(tail) ?? lastTraceback(rec.logs.tail(2000));
    const details = {
      app_id: rec.info.app_id,
      app_type: rec.info.app_type,
      exit_code: rec.info.exit_code,
      log_tail: tail,
      traceback,
    };
    if (err instanceof SandboxError && !gone)
      return new SandboxError(err.code, err.message, { ...err.details, ...details });
    if (gone) {
      const last = traceback?.split('\n').at(-1) ?? tail.filter((l) => l.trim()).at(-1) ?? '';
      return new SandboxError(
        'runtime_error',
        `the app exited during start (exit code ${rec.info.exit_code ?? 'unknown'})${last ? `: ${last}` : ''}`,
        details,
        'fix the error shown in traceback / log_tail and call start_web_app again',
      );
    }
    if (!(err instanceof ReadyTimeoutError)) {
      this.log('web app start failed', { appId: rec.info.app_id, err: String(err) });
    }
    return new SandboxError(
      'runtime_error',
      `the app did not answer HTTP within ${timeoutMs / 1000} s and was stopped`,
      details,
      'the sandbox serves Flask and FastAPI apps itself (app.run arguments are ignored); a server started another way ' +
        'must listen on 127.0.0.1:$PORT. A slow start needs a larger ready_timeout_s.',
    );
  }

  private async dropSession(sessionId: string): Promise<void> {
    for (const [id, rec] of [...this.apps]) {
      if (rec.info.session_id !== sessionId) continue;
      this.apps.delete(id);
      await this.ended(rec, null, 'the session closed');
    }
  }

  /** Keeps at most ENDED_KEPT_PER_OWNER ended apps (for their logs) per owner. */
  private prune(owner: string): void {
    const ended = [...this.apps.values()].filter(
      (r) => r.owner === owner && (r.info.status === 'exited' || r.info.status === 'stopped'),
    );
    for (const r of ended.slice(0, Math.max(0, ended.length - ENDED_KEPT_PER_OWNER)))
      this.apps.delete(r.info.app_id);
  }
}

function resolveType(args: StartAppArgs): AppType {
  const code = args.code ?? '';
  const requested = requestedAppType(args.app_type);
  if (args.directory !== undefined && requested !== 'static' && requested !== null) {
    throw invalidArgument('directory is only for static apps');
  }
  if (args.directory !== undefined) return 'static';
  if (code.trim() === '')
    throw invalidArgument('code is empty: pass the app source (or, for static, a directory)');
  const type = requested ?? detectAppType(code);
  if (!type) {
    throw invalidArgument(
      'could not tell the kind of app from its imports: pass app_type (flask, fastapi, streamlit or static)',
    );
  }
  return type;
}
