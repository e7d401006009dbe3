// The sessions service: create / get / list / close sessions, ownership, the default session per client,
// idle reaping, the warm pool, and running code in a session's box with a queue per session.
// It never builds MCP content and never runs code outside a box.
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { EventEmitter } from 'node:events';
import { Box, type BoxOptions } from '../sandbox/box.js';
import type { Db } from '../store/db.js';
import type { ExecutionRow } from '../store/executions-repo.js';
import { SessionsRepo, type SessionRow } from '../store/sessions-repo.js';
import type { ArtifactChanges } from '../artifacts/types.js';
import { buildExecuteResult, type ExecuteResult } from './execute-result.js';
import { HistoryWriter } from './history.js';
import { deferredWrites, type DeferredWrites } from '../store/write-behind.js';
import { isSessionId, newSessionId } from './ids.js';
import { ensureSessionDirs, removeStaleOutputTemps, sessionPaths } from './paths.js';
import { WarmPool } from './pool.js';
import { removeTree } from '../remove-tree.js';
import { runInBox } from './run-in-box.js';
import { mplSeedDir } from './mpl-seed.js';

export interface SessionOptions {
  name?: string | undefined;
  timeout_s?: number | undefined;
  memory_mb?: number | undefined;
  network?: string | undefined;
  allowed_domains?: string[] | undefined;
}

/** Decides a new session's network mode before its row exists; record() runs once the id is known, before its box starts. */
export type NetworkPolicyHook = (req: SessionOptions) => {
  mode: string;
  record?: (sessionId: string) => void;
};

export interface SessionInfo {
  session_id: string;
  name: string | null;
  is_default: boolean;
  created_at: string;
  last_used_at: string;
  timeout_s: number;
  memory_mb: number;
  pids: number;
  network: string;
  execution_count: number;
  running: boolean;
  workspace: string;
}

export interface ExecuteOptions {
  timeout_s?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called with output as it arrives, once the call has run longer than a second. */
  onProgress?: ((text: string, elapsedMs: number) => void) | undefined;
}

/** A live session: its row (cached; the database is written behind), its box and its call queue. */
interface Runtime {
  row: SessionRow;
  count: number;
  lastUsed: string;
  box: Box | null;
  starting: Promise<Box> | null;
  queue: Promise<unknown>;
  busy: number;
  notices: string[];
  /** Set first thing on close: calls still queued then end as not_found instead of starting a new box. */
  closed: boolean;
}

const RESTART_NOTICE =
  'the server restarted since the last call: Python variables and imports were reset; workspace files are kept';
const BOX_RESTART_NOTICE =
  'the sandbox had stopped and was restarted: Python state was reset; workspace files are kept';

/** What another service sees of a session when it runs something in its box. */
export interface SessionHandle {
  sessionId: string;
  owner: string;
  workspace: string;
  row: SessionRow;
}

/** Observes the files a call changes (the artifacts service); the sessions service only calls it. */
export interface CallTracker {
  begin(session: SessionHandle): Promise<void>;
  end(session: SessionHandle): Promise<ArtifactChanges>;
  forget(sessionId: string): void;
}

/** Adds binds, environment or network settings to a session's box before it starts (pooled boxes too). */
export type BoxCustomizer = (
  box: { sessionId: string; workspace: string; network: string },
  opts: BoxOptions,
) => void;

export interface SessionEvents {
  /** A session was closed or reaped; its box is gone. */
  closed: [sessionId: string];
  /** A box started for the session (first use, after a restart, or after a crash). */
  'box-started': [sessionId: string, box: Box];
  /** An execute finished (the audit log listens; a listener must only queue work). */
  executed: [
    call: {
      sessionId: string;
      owner: string;
      code: string;
      status: string;
      startedAt: Date;
      durationMs: number;
    },
  ];
}

/** From dist/src/sessions, src/sessions or dist/src/bin (the bundled command), the agent's Python files are in ../agent. */
export const AGENT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'agent');

/** A box's limits from the server's settings: every box (a session's, a one-shot, a smoke test) uses these. */
export function boxLimits(config: Config, memoryMb: number, pids = config.pids): BoxOptions['limits'] {
  return {
    memoryBytes: memoryMb * 1024 * 1024,
    pids,
    fileSizeBytes: config.fileSizeMb * 1024 * 1024,
    openFiles: config.openFiles,
  };
}

export class SessionService {
  private readonly sessions: SessionsRepo;
  private readonly history: HistoryWriter;
  private readonly runtimes = new Map<string, Runtime>();
  private readonly defaultCreating = new Map<string, Promise<SessionInfo>>();
  private readonly pool: WarmPool;
  private reaper: NodeJS.Timeout | undefined;
  private readonly mplSeedDir: string;
  private readonly customizers: BoxCustomizer[] = [];
  private networkPolicy: NetworkPolicyHook | undefined;
  private tracker: CallTracker | null = null;
  readonly events = new EventEmitter<SessionEvents>();

  constructor(
    private readonly config: Config,
    db: Db,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void = () => {},
    /** The queue history rows share with the audit log (app.ts); its own when absent. */
    writes: DeferredWrites = deferredWrites(db, (err, outcome) =>
      log('a background write failed', { err: String(err), rows: outcome }),
    ),
  ) {
    this.sessions = new SessionsRepo(db);
    this.history = new HistoryWriter(db, this.sessions, writes);
    this.mplSeedDir = mplSeedDir(config.dataDir);
    this.pool = new WarmPool(
      this.isolationMissing() ? 0 : config.poolSize,
      (id) => this.startBox(id, this.config.memoryMb),
      (id) => removeTree(sessionPaths(this.config.dataDir, id).root),
      (err) => this.log('warm pool box failed to start', { err: String(err) }),
    );
    // Sessions open when the server stopped keep their workspace; their Python state is gone.
    for (const row of this.sessions.listOpen()) this.runtimes.set(row.id, newRuntime(row, [RESTART_NOTICE]));
  }

  start(): void {
    const orphans = this.orphanSessionDirs(); // listed before the pool makes folders of its own
    this.pool.fill();
    void this.sweepOutputTemps(Date.now());
    for (const id of orphans) {
      void removeTree(sessionPaths(this.config.dataDir, id).root).catch((err: unknown) =>
        this.log('could not remove a left-over session folder', { id, err: String(err) }),
      );
    }
    if (orphans.length) this.log('removing session folders no open session owns', { count: orphans.length });
    const every = Math.min(60_000, Math.max(1000, (this.config.idleTtlS * 1000) / 4));
    this.reaper = setInterval(() => void this.reapIdle(), every);
    this.reaper.unref();
  }

  /**
   * Session folders no open session owns: warm-pool boxes of a server that was killed, or a close cut short. A
   * closed session's folder is removed at its close, so none of these hold anything a session still needs.
   */
  private orphanSessionDirs(): string[] {
    let names: string[];
    try {
      names = readdirSync(join(this.config.dataDir, 'sessions'));
    } catch {
      return [];
    }
    return names.filter((name) => isSessionId(name) && !this.runtimes.has(name));
  }

  /** After a restart: what the previous process left of long outputs it was saving when it stopped. */
  private async sweepOutputTemps(before: number): Promise<void> {
    let removed = 0;
    for (const id of [...this.runtimes.keys()]) {
      removed += await removeStaleOutputTemps(sessionPaths(this.config.dataDir, id).workspace, before);
    }
    if (removed) this.log('removed unfinished output files left by the previous run', { removed });
  }

  get idleTtlS(): number {
    return this.config.idleTtlS;
  }

  async create(owner: string, opts: SessionOptions = {}, isDefault = false): Promise<SessionInfo> {
    this.requireIsolation();
    const timeout = opts.timeout_s ?? this.config.timeoutS;
    const memory = opts.memory_mb ?? this.config.memoryMb;
    if (!(timeout > 0) || timeout > 86_400)
      throw invalidArgument('timeout_s must be between 0 and 86400 seconds');
    if (!(memory >= 64) || memory > 1_048_576)
      throw invalidArgument('memory_mb must be between 64 and 1048576');
    const net = this.networkPolicy?.(opts) ?? { mode: 'none' };
    if (!this.networkPolicy && opts.network && opts.network !== 'none') {
      throw invalidArgument(`network '${opts.network}' is not available; sessions have no network`);
    }
    // Pooled boxes were started with no network, so only 'none' sessions may take one.
    const pooled = net.mode === 'none' && memory === this.config.memoryMb ? this.pool.take() : undefined;
    const id = pooled?.id ?? newSessionId();
    const now = new Date().toISOString();
    const row: SessionRow = {
      id,
      owner,
      name: opts.name ?? null,
      is_default: isDefault ? 1 : 0,
      created_at: now,
      last_used_at: now,
      closed_at: null,
      timeout_s: timeout,
      memory_mb: memory,
      pids: this.config.pids,
      network: net.mode,
      execution_count: 0,
    };
    this.sessions.insert(row);
    net.record?.(id);
    const rt = newRuntime(row, []);
    this.runtimes.set(id, rt);
    if (pooled) rt.box = pooled.box;
    else void this.ensureBox(rt).catch(() => undefined); // start now; a failure surfaces on the first call
    return this.info(rt);
  }

  /** The caller's session: the one named, or the caller's default session (created on first use). */
  async resolve(owner: string, sessionId?: string): Promise<Runtime> {
    return this.touch(await this.find(owner, sessionId));
  }

  private async find(owner: string, sessionId?: string): Promise<Runtime> {
    if (sessionId !== undefined) return this.owned(owner, sessionId);
    // Every open session is in memory: finding the default needs no query.
    for (const rt of this.runtimes.values()) {
      if (rt.row.owner === owner && rt.row.is_default === 1 && !rt.closed) return rt;
    }
    // Parallel first calls from one client must share one default session.
    let creating = this.defaultCreating.get(owner);
    if (!creating) {
      creating = this.create(owner, {}, true).finally(() => this.defaultCreating.delete(owner));
      this.defaultCreating.set(owner, creating);
    }
    return this.owned(owner, (await creating).session_id);
  }

  list(owner: string): SessionInfo[] {
    return [...this.runtimes.values()]
      .filter((rt) => rt.row.owner === owner)
      .sort((a, b) => a.row.created_at.localeCompare(b.row.created_at))
      .map((rt) => this.info(rt));
  }

  get(owner: string, sessionId: string): SessionInfo {
    return this.info(this.owned(owner, sessionId));
  }

  async close(owner: string, sessionId: string): Promise<{ session_id: string; closed: boolean }> {
    const rt = this.owned(owner, sessionId);
    await this.closeRuntime(rt);
    return { session_id: rt.row.id, closed: true };
  }

  /** Runs Python code in the session; calls to one session run one after another. */
  async execute(
    owner: string,
    sessionId: string | undefined,
    code: string,
    opts: ExecuteOptions = {},
  ): Promise<ExecuteResult> {
    this.requireIsolation();
    const rt = await this.resolve(owner, sessionId);
    const timeoutS = opts.timeout_s ?? rt.row.timeout_s;
    if (!(timeoutS > 0) || timeoutS > 86_400)
      throw invalidArgument('timeout must be between 0 and 86400 seconds');
    return this.enqueue(rt, () => this.runExecute(rt, code, timeoutS, opts));
  }

  /** Asks the session's agent for its environment (python, sys.path, venv). */
  async environment(
    owner: string,
    sessionId: string | undefined,
  ): Promise<{ session: SessionInfo; env: Record<string, unknown>; box: Box }> {
    this.requireIsolation();
    const rt = await this.resolve(owner, sessionId);
    const box = await this.ensureBox(rt);
    const final = await box.request({ op: 'info' }, undefined, 10_000).done;
    return { session: this.info(rt), env: final.info ?? {}, box };
  }

  /** Host path of a session's workspace, after the ownership check. */
  async workspace(
    owner: string,
    sessionId: string | undefined,
  ): Promise<{ sessionId: string; path: string }> {
    const rt = await this.resolve(owner, sessionId);
    return { sessionId: rt.row.id, path: sessionPaths(this.config.dataDir, rt.row.id).workspace };
  }

  setCallTracker(tracker: CallTracker): void {
    this.tracker = tracker;
  }

  /** Runs fn with the session's files tracked: what it created, changed and deleted comes back with its value. */
  async tracked<T>(
    session: SessionHandle,
    fn: () => Promise<T>,
  ): Promise<{ value: T; artifacts: ArtifactChanges | null }> {
    if (!this.tracker) return { value: await fn(), artifacts: null };
    await this.tracker.begin(session);
    let value: T;
    try {
      value = await fn();
    } catch (err) {
      // end() runs on failure too so the tracker's snapshot stays in step with the workspace.
      await this.tracker.end(session).catch(() => undefined);
      throw err;
    }
    const artifacts = await this.tracker.end(session);
    return { value, artifacts };
  }

  /** Lets the network service decide each new session's network policy (without it, only 'none' exists). */
  setNetworkPolicy(hook: NetworkPolicyHook): void {
    this.networkPolicy = hook;
  }

  /** Adds a line to the session's next result (e.g. a network denial seen while a call ran); repeats are dropped. */
  addNotice(sessionId: string, notice: string): void {
    const rt = this.runtimes.get(sessionId);
    if (rt) pushNotice(rt, notice);
  }

  /** The owner of an open session, or null. */
  ownerOf(sessionId: string): string | null {
    return this.runtimes.get(sessionId)?.row.owner ?? null;
  }

  /** The lines waiting for the session's next result (execute or shell), plus the warning when isolation is off. */
  takeNotices(sessionId: string, what: 'code' | 'command'): string[] {
    const notices = this.runtimes.get(sessionId)?.notices.splice(0) ?? [];
    if (this.config.isolation === 'none') {
      notices.push(
        `WARNING: isolation is off (--isolation none): this ${what} ran without a sandbox, with the server user's rights`,
      );
    }
    return notices;
  }

  /** The session's current resource usage, or null when its box is not running (never starts one). */
  usage(owner: string, sessionId: string): ReturnType<Box['usage']> | null {
    const rt = this.owned(owner, sessionId);
    return rt.box?.alive ? rt.box.usage() : null;
  }

  /** Registers a hook that shapes every box started from now on (binds, env, network). */
  addBoxCustomizer(fn: BoxCustomizer): void {
    this.customizers.push(fn);
  }

  /**
   * Runs fn with the session's running box. queued: wait for the session's earlier calls (and hold later ones)
   * like execute does; otherwise run beside them (for requests the agent answers while a cell runs).
   */
  async useBox<T>(
    owner: string,
    sessionId: string | undefined,
    fn: (box: Box, session: SessionHandle) => Promise<T>,
    opts: { queued?: boolean } = {},
  ): Promise<T> {
    this.requireIsolation();
    const rt = await this.resolve(owner, sessionId);
    const run = async () => fn(await this.ensureBox(rt), this.handle(rt));
    return opts.queued === false ? run() : this.enqueue(rt, run);
  }

  /** Runs fn in the session's call queue without needing its box (backups, rollbacks): no call overlaps it. */
  async queued<T>(
    owner: string,
    sessionId: string | undefined,
    fn: (session: SessionHandle) => Promise<T>,
  ): Promise<T> {
    const rt = await this.resolve(owner, sessionId);
    return this.enqueue(rt, () => fn(this.handle(rt)));
  }

  /** Restarts the session's Python (e.g. after a venv appears); files are kept. */
  async restartBox(owner: string, sessionId: string | undefined, notice: string): Promise<void> {
    const rt = await this.resolve(owner, sessionId);
    await this.enqueue(rt, async () => {
      await this.stopBox(rt);
      pushNotice(rt, notice);
      await this.ensureBox(rt);
    });
  }

  executions(sessionId: string): ExecutionRow[] {
    return this.history.list(sessionId);
  }

  async shutdown(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    await this.pool.close();
    await Promise.all([...this.runtimes.values()].map((rt) => this.stopBox(rt)));
    // After the boxes: calls they cut short are recorded too.
    this.history.flush();
  }

  async reapIdle(now = Date.now()): Promise<string[]> {
    const before = new Date(now - this.config.idleTtlS * 1000).toISOString();
    const reaped: string[] = [];
    for (const rt of [...this.runtimes.values()]) {
      if (rt.busy > 0 || rt.lastUsed >= before) continue;
      await this.closeRuntime(rt);
      reaped.push(rt.row.id);
    }
    if (reaped.length) this.log('reaped idle sessions', { reaped });
    return reaped;
  }

  private owned(owner: string, sessionId: string): Runtime {
    const rt = isSessionId(sessionId) ? this.runtimes.get(sessionId) : undefined;
    if (!rt || rt.row.owner !== owner) {
      throw notFound(
        'session',
        sessionId,
        'call list_sessions to see your sessions, or omit session_id to use your default session',
      );
    }
    return rt;
  }

  private async runExecute(
    rt: Runtime,
    code: string,
    timeoutS: number,
    opts: ExecuteOptions,
  ): Promise<ExecuteResult> {
    const box = await this.ensureBox(rt);
    const count = ++rt.count;
    const started = new Date();
    const { value: outcome, artifacts } = await this.tracked(this.handle(rt), () =>
      runInBox(box, {
        code,
        timeoutMs: Math.round(timeoutS * 1000),
        graceMs: this.config.graceMs,
        outputCap: this.config.outputCap,
        executionCount: count,
        signal: opts.signal,
        onProgress: opts.onProgress,
      }),
    );
    // Read before a dead box is closed: closing removes its cgroup and the counters with it.
    const usage = box.callUsage();
    if (outcome.boxDied) {
      // The agent itself died (e.g. the OOM killer took it): the next call starts a new box.
      if (!outcome.oomKilled)
        this.log('box died during execute', { session: rt.row.id, err: outcome.boxError });
      if (rt.box === box) rt.box = null;
      await box.close();
    }
    const notices = this.takeNotices(rt.row.id, 'code');
    const result = buildExecuteResult(outcome.final, outcome.events, {
      sessionId: rt.row.id,
      executionCount: count,
      timeoutS,
      memoryMb: rt.row.memory_mb,
      oomKilled: outcome.oomKilled,
      isolation: this.config.isolation,
      notices,
      memoryPeakBytes: usage.memory_peak_bytes,
      pids: usage.pids,
      artifacts,
    });
    const items = outcome.events.map(({ id: _id, ...rest }) => rest);
    this.history.record(
      {
        session_id: rt.row.id,
        execution_count: count,
        kind: 'python',
        code,
        status: result.status,
        started_at: started.toISOString(),
        duration_ms: result.duration_ms,
      },
      { stdout: result.stdout, stderr: result.stderr, items },
    );
    this.events.emit('executed', {
      sessionId: rt.row.id,
      owner: rt.row.owner,
      code,
      status: result.status,
      startedAt: started,
      durationMs: result.duration_ms,
    });
    return result;
  }

  /**
   * Every call through resolve() counts as use for the idle reaper (shell, files, backups, installs, not only
   * execute), at its start and again at its end; the row's last_used_at is written behind.
   */
  private touch(rt: Runtime): Runtime {
    rt.lastUsed = new Date().toISOString();
    this.history.used(rt.row.id, rt.lastUsed, rt.count);
    return rt;
  }

  private async enqueue<T>(rt: Runtime, job: () => Promise<T>): Promise<T> {
    rt.busy++;
    const guarded = () => {
      if (rt.closed) throw this.closedError(rt);
      return job();
    };
    const run = rt.queue.then(guarded, guarded);
    rt.queue = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      rt.busy--;
      if (!rt.closed) this.touch(rt);
    }
  }

  private closedError(rt: Runtime): SandboxError {
    return notFound('session', rt.row.id, 'the session was closed; create_session starts a new one');
  }

  private ensureBox(rt: Runtime): Promise<Box> {
    if (rt.closed) return Promise.reject(this.closedError(rt));
    if (rt.box?.alive) return Promise.resolve(rt.box);
    if (rt.box) {
      rt.box = null;
      pushNotice(rt, BOX_RESTART_NOTICE);
    }
    rt.starting ??= this.startBox(rt.row.id, rt.row.memory_mb, rt)
      .then((b) => {
        rt.box = b;
        this.events.emit('box-started', rt.row.id, b);
        return b;
      })
      .finally(() => {
        rt.starting = null;
      });
    return rt.starting;
  }

  private handle(rt: Runtime): SessionHandle {
    return {
      sessionId: rt.row.id,
      owner: rt.row.owner,
      workspace: sessionPaths(this.config.dataDir, rt.row.id).workspace,
      row: rt.row,
    };
  }

  private async startBox(id: string, memoryMb: number, rt?: Runtime): Promise<Box> {
    const paths = sessionPaths(this.config.dataDir, id);
    ensureSessionDirs(paths, this.mplSeedDir); // copied when it exists
    const opts: BoxOptions = {
      name: id,
      workspace: paths.workspace,
      mplConfigDir: paths.mplConfigDir,
      agentDir: AGENT_DIR,
      isolation: this.config.isolation,
      bwrapPath: this.config.bwrapPath,
      python: this.config.python,
      limits: boxLimits(this.config, memoryMb, rt?.row.pids),
    };
    // Pooled boxes start before they have an owner; they are only handed to sessions with default settings.
    const network = rt?.row.network ?? 'none';
    for (const c of this.customizers) c({ sessionId: id, workspace: paths.workspace, network }, opts);
    return Box.start(opts);
  }

  private async stopBox(rt: Runtime): Promise<void> {
    const box = rt.box ?? (rt.starting ? await rt.starting.catch(() => null) : null);
    rt.box = null;
    await box?.close();
  }

  private async closeRuntime(rt: Runtime): Promise<void> {
    this.history.flush(); // what the database refuses stays queued, and is written once it can be
    // First, and synchronously: on a full disk this throws and the session stays open, unchanged.
    this.sessions.close(rt.row.id, new Date().toISOString());
    rt.closed = true;
    this.history.forget(rt.row.id);
    this.runtimes.delete(rt.row.id);
    await this.stopBox(rt);
    this.tracker?.forget(rt.row.id);
    this.events.emit('closed', rt.row.id);
    await removeTree(sessionPaths(this.config.dataDir, rt.row.id).root).catch((err: unknown) =>
      this.log('session folder not removed', { session: rt.row.id, err: String(err) }),
    );
  }

  private bwrapMissing: boolean | undefined;

  /** Checked once: a per-call existsSync sat on the execute hot path for a fact that does not change. */
  isolationMissing(): boolean {
    this.bwrapMissing ??= this.config.isolation === 'bwrap' && !existsSync(this.config.bwrapPath);
    return this.bwrapMissing;
  }

  /** Throws isolation_unavailable when boxes cannot be started (checked once). */
  requireIsolation(): void {
    if (this.isolationMissing()) {
      throw new SandboxError(
        'isolation_unavailable',
        `bubblewrap was not found at ${this.config.bwrapPath}, so code cannot run isolated`,
        { bwrap: this.config.bwrapPath },
        'install it (apt-get install bubblewrap) and check with `sandbox-mcp doctor`, or start the server with --isolation none to run code unsandboxed',
      );
    }
  }

  private info(rt: Runtime): SessionInfo {
    return {
      session_id: rt.row.id,
      name: rt.row.name,
      is_default: rt.row.is_default === 1,
      created_at: rt.row.created_at,
      last_used_at: rt.lastUsed,
      timeout_s: rt.row.timeout_s,
      memory_mb: rt.row.memory_mb,
      pids: rt.row.pids,
      network: rt.row.network,
      execution_count: rt.count,
      running: Boolean(rt.box?.alive),
      workspace: '/workspace',
    };
  }
}

function pushNotice(rt: Runtime, notice: string): void {
  if (rt.notices.length < 20 && !rt.notices.includes(notice)) rt.notices.push(notice);
}

function newRuntime(row: SessionRow, notices: string[]): Runtime {
  return {
    row,
    count: row.execution_count,
    lastUsed: row.last_used_at,
    box: null,
    starting: null,
    queue: Promise.resolve(),
    busy: 0,
    notices,
    closed: false,
  };
}
