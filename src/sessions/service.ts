// The sessions service: create / get / list / close sessions, ownership, the default session per client,
// idle reaping, the warm pool, and running code in a session's box with a queue per session.
// It never builds MCP content and never runs code outside a box.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import type { Config } from '../config.js';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { EventEmitter } from 'node:events';
import { Box, type BoxOptions } from '../sandbox/box.js';
import { boxOptions } from '../sandbox/box-options.js';
import type { Db } from '../store/db.js';
import type { ExecutionRow } from '../store/executions-repo.js';
import { SessionsRepo, type SessionRow } from '../store/sessions-repo.js';
import type { ArtifactChanges } from '../artifacts/types.js';
import { hostLimitMechanisms, limitNotices } from '../sandbox/limit-stand-ins.js';
import { buildExecuteResult, type ExecuteResult } from './execute-result.js';
import { HistoryWriter } from './history.js';
import type { SessionClosedSchema, SessionInfoSchema } from './result-schemas.js';
import { CallEvents } from './events.js';
import { deferredWrites, type DeferredWrites } from '../store/write-behind.js';
import { isSessionId, newSessionId } from './ids.js';
import {
  ensureSessionDirs,
  removeStaleAppSockets,
  removeStaleOutputTemps,
  rotateSavedOutputs,
  sessionPaths,
} from './paths.js';
import { removeLeftoverCgroups } from '../sandbox/cgroups.js';
import { startBox, usesDocker } from '../sandbox/docker/backend.js';
import { WarmPool } from './pool.js';
import { KeyedSerial } from '../keyed-serial.js';
import { removeTree } from '../fsafe/remove.js';
import { runInBox } from './run-in-box.js';
import { mplSeedDir } from './mpl-seed.js';
import { checkSessionRoom, requireWithin, underCeilings, type SessionHold } from './caps.js';
import { idleAction, reapEveryMs } from './reaper.js';
import {
  BOX_RESTART_NOTICE,
  KERNEL_EXITED_NOTICE,
  KERNEL_LOST_IN_CALL_NOTICE,
  SERVER_RESTART_NOTICE,
  reapedNotice,
} from './state-loss.js';

export interface SessionOptions {
  name?: string | undefined;
  timeout_s?: number | undefined;
  memory_mb?: number | undefined;
  network?: string | undefined;
  allowed_domains?: string[] | undefined;
  /** false: a bare interpreter, never a pooled box with libraries imported ahead (--preload). */
  preload?: boolean | undefined;
}

/** Decides a new session's network mode before its row exists; record() runs once the id is known, before its box starts. */
export type NetworkPolicyHook = (req: SessionOptions) => {
  mode: string;
  record?: (sessionId: string) => void;
};

export type SessionInfo = z.infer<typeof SessionInfoSchema>;
export type SessionClosed = z.infer<typeof SessionClosedSchema>;

export interface ExecuteOptions {
  timeout_s?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called with output as it arrives, once the call has run longer than a second. */
  onProgress?: ((text: string, elapsedMs: number) => void) | undefined;
}

/** A live session: its row (cached; the database is written behind), its box and its call queue. */
interface Runtime {
  row: SessionRow;
  /** The Python kernel's execution count: it starts over whenever Python state is lost, as Jupyter's does. */
  count: number;
  /** Executes ever run in the session (history rows and saved outputs are numbered by it); never starts over. */
  seq: number;
  /** Why Python state was lost since the last execute (its notice), until an execute result reports it. */
  lost: string | null;
  /** How many kernels of this box had exited when the last execute ended: a change means state was lost idle. */
  kernelMark: { box: Box; exits: number } | null;
  lastUsed: string;
  box: Box | null;
  starting: Promise<Box> | null;
  /** The previous box's close, while it runs: a new box waits for it (they share the session's cgroup). */
  stopping: Promise<void> | null;
  busy: number;
  notices: string[];
  /** Set first thing on close: calls still queued then end as not_found instead of starting a new box. */
  closed: boolean;
}

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

/** Below this memory limit pooled boxes start bare: numpy, pandas and matplotlib take about 90 MiB. */
const PRELOAD_MIN_MEMORY_MB = 256;
/**
 * A pooled box that preloads may take this long to be ready (a bare one: Box's default, 15 s). It starts at the
 * lowest CPU share, so on a host whose sessions keep every CPU busy its imports get almost none: the limit is for a
 * start that hangs, not for one that waits its turn (at 60 s such a pool was killed and restarted without end).
 */
const POOL_PRELOAD_START_MS = 10 * 60_000;

export class SessionService {
  private readonly sessions: SessionsRepo;
  private readonly history: HistoryWriter;
  private readonly runtimes = new Map<string, Runtime>();
  /** Each session's calls, one at a time in the order they arrived. */
  private readonly queues = new KeyedSerial<Runtime>();
  private readonly pool: WarmPool;
  /** Aborted at shutdown: pooled boxes still starting (preloading) are killed instead of waited for. */
  private readonly poolStarts = new AbortController();
  private reaper: NodeJS.Timeout | undefined;
  private readonly mplSeedDir: string;
  private readonly customizers: BoxCustomizer[] = [];
  private networkPolicy: NetworkPolicyHook | undefined;
  private tracker: CallTracker | null = null;
  readonly events = new EventEmitter<SessionEvents>();
  /** Each execute and shell_execute as it starts, sends output and ends (the status page's live view). */
  readonly calls = new CallEvents();

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
      (err) => {
        if (!this.poolStarts.signal.aborted) this.log('warm pool box failed to start', { err: String(err) });
      },
    );
    // Sessions open when the server stopped keep their workspace; their Python state is gone.
    for (const row of this.sessions.listOpen())
      this.runtimes.set(row.id, newRuntime(underCeilings(row, config), SERVER_RESTART_NOTICE));
  }

  start(): void {
    const orphans = this.orphanSessionDirs(); // listed before the pool makes folders of its own
    // Before any box starts: the cgroups a killed predecessor left, of this data dir's boxes only (ownership.ts).
    const cgroups = removeLeftoverCgroups([...orphans, ...this.runtimes.keys()]);
    if (cgroups) this.log('removed cgroups left by the previous run', { count: cgroups });
    this.pool.fill();
    void this.sweepOutputTemps(Date.now());
    for (const id of orphans) {
      void removeTree(sessionPaths(this.config.dataDir, id).root).catch((err: unknown) =>
        this.log('could not remove a left-over session folder', { id, err: String(err) }),
      );
    }
    if (orphans.length) this.log('removing session folders no open session owns', { count: orphans.length });
    let reaping: Promise<unknown> | null = null; // one pass at a time: a pass may wait for boxes to stop
    this.reaper = setInterval(() => {
      reaping ??= this.reapIdle()
        .catch((err: unknown) => this.log('idle reaper pass failed', { err: String(err) }))
        .finally(() => (reaping = null));
    }, reapEveryMs(this.config));
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

  /** After a restart: what the previous process left of long outputs it was saving, and its web apps' sockets. */
  private async sweepOutputTemps(before: number): Promise<void> {
    let removed = 0;
    let sockets = 0;
    for (const id of [...this.runtimes.keys()]) {
      const paths = sessionPaths(this.config.dataDir, id);
      removed += await removeStaleOutputTemps(paths.workspace, before);
      sockets += removeStaleAppSockets(paths.root, before);
    }
    if (removed) this.log('removed unfinished output files left by the previous run', { removed });
    if (sockets) this.log('removed web-app sockets left by the previous run', { removed: sockets });
  }

  get idleTtlS(): number {
    return this.config.idleTtlS;
  }

  /** The new session, with a notice for each limit no cgroup enforces here and what stands in for it. */
  async create(owner: string, opts: SessionOptions = {}): Promise<SessionInfo & { notices: string[] }> {
    const info = this.info(this.open(owner, opts, false));
    const backend = this.config.isolation === 'none' ? 'none' : this.config.boxBackend;
    return { ...info, notices: limitNotices(hostLimitMechanisms(backend), info.memory_mb, info.pids) };
  }

  /**
   * Registers a new session. Synchronous on purpose: the default session is opened by the first call that
   * needs it, and the calls right behind that one must find it already registered, queued after that call.
   */
  private open(owner: string, opts: SessionOptions, isDefault: boolean): Runtime {
    this.requireIsolation();
    // The server's settings are ceilings: a session may ask for less, never for more.
    requireWithin('timeout_s', opts.timeout_s, this.config.timeoutS, '--timeout', 's');
    requireWithin('memory_mb', opts.memory_mb, this.config.memoryMb, '--memory-mb', 'MiB');
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
    // Checked and registered with no await in between, so parallel creates cannot slip past a cap together.
    checkSessionRoom(this.config, this.holds(), { owner, memoryMb: memory, pids: this.config.pids });
    // Pooled boxes were started with no network, so only 'none' sessions may take one; one that asks for a bare
    // interpreter takes one only when the pool preloads nothing.
    const bareFits = opts.preload !== false || this.poolPreload() === null;
    const pooled =
      net.mode === 'none' && memory === this.config.memoryMb && bareFits ? this.pool.take() : undefined;
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
    const rt = newRuntime(row, null);
    this.runtimes.set(id, rt);
    if (pooled) rt.box = pooled.box;
    else void this.ensureBox(rt).catch(() => undefined); // start now; a failure surfaces on the first call
    return rt;
  }

  /** The caller's session: the one named, or the caller's default session (created on first use). */
  async resolve(owner: string, sessionId?: string): Promise<Runtime> {
    return this.touch(this.find(owner, sessionId));
  }

  /**
   * No await on any path, the default session's creation included: every call reaches its session's queue in
   * the same number of steps, so calls to one session queue in the order they arrived.
   */
  private find(owner: string, sessionId?: string): Runtime {
    if (sessionId !== undefined) return this.owned(owner, sessionId);
    // Every open session is in memory: finding the default needs no query.
    for (const rt of this.runtimes.values()) {
      if (rt.row.owner === owner && rt.row.is_default === 1 && !rt.closed) return rt;
    }
    return this.open(owner, {}, true);
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

  async close(owner: string, sessionId: string): Promise<SessionClosed> {
    const rt = this.owned(owner, sessionId);
    const unremoved = await this.closeRuntime(rt);
    if (unremoved !== null) {
      throw new SandboxError(
        'internal',
        `session '${rt.row.id}' is closed, but its files could not all be deleted (${unremoved})`,
        { session_id: rt.row.id, closed: true, files_removed: false, error: unremoved },
        'nothing to do: the server deletes what is left when it next starts',
      );
    }
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
    requireWithin('timeout', opts.timeout_s, this.config.timeoutS, '--timeout', 's');
    const rt = await this.resolve(owner, sessionId);
    const timeoutS = opts.timeout_s ?? rt.row.timeout_s;
    if (!(timeoutS > 0) || timeoutS > 86_400)
      throw invalidArgument('timeout must be between 0 and 86400 seconds');
    const live = this.calls.call(rt.row, 'python', code);
    return live.settle(this.enqueue(rt, () => this.runExecute(rt, code, timeoutS, live.start(opts))));
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

  /** Traffic to one of the session's web apps: use, as a call is, so the idle reaper leaves the session running. */
  markUsed(sessionId: string): void {
    const rt = this.runtimes.get(sessionId);
    if (rt && !rt.closed) this.touch(rt);
  }

  /** What every open session holds of the caps (memory, processes), with its owner. */
  private *holds(): Iterable<SessionHold> {
    for (const rt of this.runtimes.values())
      yield { owner: rt.row.owner, memoryMb: rt.row.memory_mb, pids: rt.row.pids };
  }

  /** The owner of an open session, or null. */
  ownerOf(sessionId: string): string | null {
    return this.runtimes.get(sessionId)?.row.owner ?? null;
  }

  /** The lines waiting for the session's next result (execute or shell), plus the warning when isolation is off. */
  takeNotices(sessionId: string, what: 'code' | 'command'): string[] {
    const rt = this.runtimes.get(sessionId);
    if (rt) noteKernelExits(rt);
    const notices = rt?.notices.splice(0) ?? [];
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

  /**
   * Takes the session's next place in its call queue now, with no await, so a call that must first check something
   * (shell_execute's policy) keeps its arrival order: calls sent after it wait for it. run() fills the place with
   * work on the running box; release() gives it up (a refused command) and the queue moves on.
   */
  reserve(
    owner: string,
    sessionId: string | undefined,
  ): {
    sessionId: string;
    workspace: string;
    run: <T>(fn: (box: Box, session: SessionHandle) => Promise<T>) => Promise<T>;
    release: () => void;
  } {
    this.requireIsolation();
    const rt = this.touch(this.find(owner, sessionId));
    let fill!: (job: (() => Promise<unknown>) | null) => void;
    const filled = new Promise<(() => Promise<unknown>) | null>((r) => (fill = r));
    const done = this.enqueue(rt, async () => {
      const job = await filled;
      return job ? job() : undefined;
    });
    // a released place has no one awaiting it: its failure (the session closed while it waited) must not go unhandled
    void done.catch(() => undefined);
    return {
      sessionId: rt.row.id,
      workspace: sessionPaths(this.config.dataDir, rt.row.id).workspace,
      run: <T>(fn: (box: Box, session: SessionHandle) => Promise<T>) => {
        fill(async () => fn(await this.ensureBox(rt), this.handle(rt)));
        return done as Promise<T>;
      },
      release: () => fill(null),
    };
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
      markLost(rt, notice);
      await this.ensureBox(rt);
    });
  }

  executions(sessionId: string): ExecutionRow[] {
    return this.history.list(sessionId);
  }

  /** Rotates every open session's saved long outputs (--outputs-keep, --outputs-days); returns the files removed. */
  rotateOutputs(now = Date.now()): number {
    let removed = 0;
    for (const id of [...this.runtimes.keys()]) removed += this.rotateOutputsOf(id, now);
    return removed;
  }

  private rotateOutputsOf(sessionId: string, now = Date.now()): number {
    const keep = { keep: this.config.outputsKeep, maxAgeMs: this.config.outputsDays * 86_400_000 };
    try {
      return rotateSavedOutputs(sessionPaths(this.config.dataDir, sessionId).workspace, keep, now).removed;
    } catch (err) {
      this.log('saved outputs not rotated', { session: sessionId, err: String(err) });
      return 0;
    }
  }

  async shutdown(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.poolStarts.abort();
    await this.pool.close();
    await Promise.all([...this.runtimes.values()].map((rt) => this.stopBox(rt)));
    // After the boxes: calls they cut short are recorded too.
    this.history.flush();
  }

  /**
   * Stops the processes of sessions unused for --idle-ttl (their files, backups and history stay; the next call
   * starts a new box and says Python state was reset), and closes those unused for --session-retention.
   */
  async reapIdle(now = Date.now()): Promise<{ stopped: string[]; closed: string[] }> {
    const stopped: string[] = [];
    const closed: string[] = [];
    for (const rt of [...this.runtimes.values()]) {
      if (rt.closed) continue;
      // Decided and begun with no await in between: a call arriving after it starts a new box.
      const running = rt.box !== null;
      const action = idleAction({ busy: rt.busy, lastUsed: rt.lastUsed, running }, now, this.config);
      if (action === 'stop') {
        markLost(rt, rt.box?.alive ? reapedNotice(this.config.idleTtlS) : BOX_RESTART_NOTICE);
        stopped.push(rt.row.id);
        await this.stopBox(rt).catch((err: unknown) =>
          this.log('an idle box did not stop cleanly', { session: rt.row.id, err: String(err) }),
        );
      } else if (action === 'close') {
        try {
          await this.closeRuntime(rt);
          closed.push(rt.row.id);
        } catch (err) {
          this.log('could not close an abandoned session', { session: rt.row.id, err: String(err) });
        }
      }
    }
    if (stopped.length) this.log('stopped idle sessions (files kept)', { stopped });
    if (closed.length) this.log('closed sessions unused past --session-retention', { closed });
    return { stopped, closed };
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
    noteKernelExits(rt);
    const lostBefore = rt.lost;
    rt.lost = null;
    const count = ++rt.count;
    // The box numbers calls by the session's sequence, so saved output files never overwrite older ones.
    const seq = ++rt.seq;
    const exitsBefore = box.kernelExits;
    const started = new Date();
    const { value: outcome, artifacts } = await this.tracked(this.handle(rt), () =>
      runInBox(box, {
        code,
        timeoutMs: Math.round(timeoutS * 1000),
        graceMs: this.config.graceMs,
        outputCap: this.config.outputCap,
        executionCount: seq,
        signal: opts.signal,
        onProgress: opts.onProgress,
      }),
    ).catch((err: unknown) => {
      rt.lost ??= lostBefore; // no result carried the loss: the next one must
      throw err;
    });
    // A kernel that ended during the call took the state with it; the next call counts from 1 again.
    const restartedInCall = outcome.final.kernel_restarted === true || box.kernelExits !== exitsBefore;
    if (restartedInCall) rt.count = outcome.final.kernel_restarted === true ? 0 : 1;
    rt.kernelMark = { box, exits: box.kernelExits };
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
    // A shell result may have shown the notice already; the execute that first runs on the new state says it too.
    if (lostBefore !== null && !notices.includes(lostBefore)) notices.unshift(lostBefore);
    if (restartedInCall) notices.push(KERNEL_LOST_IN_CALL_NOTICE);
    notices.push(...outcome.eventNotices);
    const result = buildExecuteResult(outcome.final, outcome.events, {
      sessionId: rt.row.id,
      executionCount: count,
      stateLost: lostBefore !== null || restartedInCall,
      timeoutS,
      memoryMb: rt.row.memory_mb,
      oomKilled: outcome.oomKilled,
      memoryBy: box.mechanisms.memory,
      isolation: this.config.isolation === 'none' ? 'none' : this.config.boxBackend,
      notices,
      memoryPeakBytes: usage.memory_peak_bytes,
      pids: usage.pids,
      artifacts,
    });
    if (result.full_output.stdout || result.full_output.stderr) this.rotateOutputsOf(rt.row.id);
    const items = outcome.events.map(({ id: _id, ...rest }) => rest);
    this.history.record(
      {
        session_id: rt.row.id,
        execution_count: seq,
        kind: 'python',
        code,
        status: result.status,
        started_at: started.toISOString(),
        duration_ms: result.duration_ms,
      },
      { stdout: result.stdout, stderr: result.stderr, items, error: result.error, notices: result.notices },
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
    this.history.used(rt.row.id, rt.lastUsed, rt.seq);
    return rt;
  }

  private async enqueue<T>(rt: Runtime, job: () => Promise<T>): Promise<T> {
    rt.busy++;
    const guarded = () => {
      if (rt.closed) throw this.closedError(rt);
      return job();
    };
    try {
      return await this.queues.run(rt, guarded);
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
      // A dead or broken box may not have exited yet: its exit empties the session's cgroup, which the new box
      // would already share, so the new one starts once the old one is closed.
      const stopping = rt.box.close().catch(() => undefined);
      rt.stopping = stopping;
      void stopping.then(() => {
        if (rt.stopping === stopping) rt.stopping = null;
      });
      rt.box = null;
      markLost(rt, BOX_RESTART_NOTICE);
    }
    // A box still stopping (an idle stop) holds the session's cgroup: the new one starts once it is gone.
    rt.starting ??= (rt.stopping ?? Promise.resolve())
      .then(() => {
        if (rt.closed) throw this.closedError(rt);
        return this.startBox(rt.row.id, rt.row.memory_mb, rt);
      })
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
    const opts = boxOptions(this.config, {
      name: id,
      workspace: paths.workspace,
      mplConfigDir: paths.mplConfigDir,
      memoryMb,
      pids: rt?.row.pids,
    });
    // Pooled boxes start before they have an owner; they are only handed to sessions with default settings.
    const network = rt?.row.network ?? 'none';
    const preload = rt ? null : this.poolPreload();
    if (preload) {
      // The kernel imports the set before it says hello (src/agent/preload.py), so the box is only handed out
      // once it is done; on a busy host that takes longer than a bare start.
      opts.env = { ...opts.env, SANDBOX_PRELOAD: preload };
      opts.startTimeoutMs = POOL_PRELOAD_START_MS;
    }
    if (!rt) {
      opts.signal = this.poolStarts.signal;
      opts.background = true; // the pool raises it to the normal share when it hands the box out
    }
    for (const c of this.customizers) c({ sessionId: id, workspace: paths.workspace, network }, opts);
    return startBox(this.config, opts); // the box backend (bwrap or Docker): src/sandbox/docker/backend.ts
  }

  /** The library set pooled boxes import ahead, or null: none asked for, or a box too small to hold it. */
  private poolPreload(): string | null {
    const c = this.config;
    return c.preload === 'none' || c.memoryMb < PRELOAD_MIN_MEMORY_MB ? null : c.preload;
  }

  private async stopBox(rt: Runtime): Promise<void> {
    const box = rt.box ?? (rt.starting ? await rt.starting.catch(() => null) : null);
    rt.box = null;
    if (!box) return;
    const closing = box.close();
    const stopping = closing.catch(() => undefined);
    rt.stopping = stopping;
    try {
      await closing;
    } finally {
      if (rt.stopping === stopping) rt.stopping = null;
    }
  }

  /** Closes the session; resolves with why its folder could not be removed entirely, or null when it was. */
  private async closeRuntime(rt: Runtime): Promise<string | null> {
    this.history.flush(); // what the database refuses stays queued, and is written once it can be
    // First, and synchronously: on a full disk this throws and the session stays open, unchanged.
    this.sessions.close(rt.row.id, new Date().toISOString());
    rt.closed = true;
    this.history.forget(rt.row.id);
    this.runtimes.delete(rt.row.id);
    await this.stopBox(rt);
    this.tracker?.forget(rt.row.id);
    this.events.emit('closed', rt.row.id);
    try {
      await removeTree(sessionPaths(this.config.dataDir, rt.row.id).root);
      return null;
    } catch (err) {
      this.log('session folder not removed', { session: rt.row.id, err: String(err) });
      return err instanceof Error ? err.message : String(err);
    }
  }

  private bwrapMissing: boolean | undefined;

  /** Checked once: a per-call existsSync sat on the execute hot path for a fact that does not change. */
  isolationMissing(): boolean {
    this.bwrapMissing ??=
      this.config.isolation === 'bwrap' && !usesDocker(this.config) && !existsSync(this.config.bwrapPath);
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
      execution_count: rt.seq,
      running: Boolean(rt.box?.alive),
      workspace: '/workspace',
    };
  }
}

function pushNotice(rt: Runtime, notice: string): void {
  if (rt.notices.length < 20 && !rt.notices.includes(notice)) rt.notices.push(notice);
}

/** Python state is gone (why: the notice): the next result says so, and the execution count starts over. */
function markLost(rt: Runtime, notice: string): void {
  pushNotice(rt, notice);
  rt.lost ??= notice;
  rt.count = 0;
  rt.kernelMark = null;
}

/** A kernel of the session's box ended since its last execute (killed or crashed while idle): its state is gone. */
function noteKernelExits(rt: Runtime): void {
  const mark = rt.kernelMark;
  if (mark && mark.box === rt.box && mark.box.kernelExits !== mark.exits) markLost(rt, KERNEL_EXITED_NOTICE);
}

/** lost: the notice of a session whose Python state is already gone (one left open by the previous server). */
function newRuntime(row: SessionRow, lost: string | null): Runtime {
  return {
    row,
    count: 0,
    seq: row.execution_count,
    lost,
    kernelMark: null,
    lastUsed: row.last_used_at,
    box: null,
    starting: null,
    stopping: null,
    busy: 0,
    notices: lost === null ? [] : [lost],
    closed: false,
  };
}
