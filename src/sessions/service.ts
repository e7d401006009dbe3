// The sessions service: create / get / list / close sessions, ownership, the default session per client,
// idle reaping, the warm pool, and running code in a session's box with a queue per session.
// It never builds MCP content and never runs code outside a box.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { SandboxError, invalidArgument, notFound } from '../errors.js';
import { Box } from '../sandbox/box.js';
import type { AgentEvent, AgentFinal } from '../sandbox/protocol.js';
import type { Db } from '../store/db.js';
import { ExecutionsRepo } from '../store/executions-repo.js';
import { SessionsRepo, type SessionRow } from '../store/sessions-repo.js';
import { buildExecuteResult, type ExecuteResult } from './execute-result.js';
import { isSessionId, newSessionId } from './ids.js';
import { ensureSessionDirs, sessionPaths } from './paths.js';
import { WarmPool, removeDir } from './pool.js';

export interface SessionOptions {
  name?: string | undefined;
  timeout_s?: number | undefined;
  memory_mb?: number | undefined;
  network?: 'none' | undefined;
}

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

interface Runtime {
  box: Box | null;
  starting: Promise<Box> | null;
  queue: Promise<unknown>;
  busy: number;
  notices: string[];
}

export const AGENT_DIR = resolveAgentDir();

function resolveAgentDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From dist/src/sessions or src/sessions, the agent is ../agent.
  const candidate = join(here, '..', 'agent');
  return candidate;
}

export class SessionService {
  private readonly sessions: SessionsRepo;
  private readonly executions: ExecutionsRepo;
  private readonly runtimes = new Map<string, Runtime>();
  private readonly defaultCreating = new Map<string, Promise<SessionInfo>>();
  private readonly pool: WarmPool;
  private reaper: NodeJS.Timeout | undefined;
  private readonly mplSeedDir: string;

  constructor(
    private readonly config: Config,
    db: Db,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void = () => {},
  ) {
    this.sessions = new SessionsRepo(db);
    this.executions = new ExecutionsRepo(db);
    this.mplSeedDir = join(config.dataDir, 'cache', 'mplconfig-seed');
    this.pool = new WarmPool(
      config.isolation === 'bwrap' && !existsSync(config.bwrapPath) ? 0 : config.poolSize,
      (id) => this.startBox(id, this.config.memoryMb),
      (id) => removeDir(sessionPaths(this.config.dataDir, id).root),
      (err) => this.log('warm pool box failed to start', { err: String(err) }),
    );
    // Sessions that were open when the server stopped keep their workspace; their Python state is gone.
    for (const row of this.sessions.listOpen()) {
      this.runtimes.set(
        row.id,
        this.newRuntime([
          'the server restarted since the last call: Python variables and imports were reset; workspace files are kept',
        ]),
      );
    }
  }

  start(): void {
    this.pool.fill();
    const every = Math.min(60_000, Math.max(1000, (this.config.idleTtlS * 1000) / 4));
    this.reaper = setInterval(() => void this.reapIdle(), every);
    this.reaper.unref();
  }

  get idleTtlS(): number {
    return this.config.idleTtlS;
  }

  async create(owner: string, opts: SessionOptions = {}, isDefault = false): Promise<SessionInfo> {
    this.requireIsolation();
    const timeout = opts.timeout_s ?? this.config.timeoutS;
    const memory = opts.memory_mb ?? this.config.memoryMb;
    if (timeout <= 0 || timeout > 86_400)
      throw invalidArgument('timeout_s must be between 0 and 86400 seconds');
    if (memory < 64 || memory > 1_048_576) throw invalidArgument('memory_mb must be between 64 and 1048576');
    if (opts.network && opts.network !== 'none') {
      throw invalidArgument(`network '${opts.network}' is not available; sessions have no network`);
    }
    let id: string;
    let box: Box | null = null;
    const pooled = memory === this.config.memoryMb ? this.pool.take() : undefined;
    if (pooled) {
      id = pooled.id;
      box = pooled.box;
    } else {
      id = newSessionId();
    }
    const now = new Date().toISOString();
    this.sessions.insert({
      id,
      owner,
      name: opts.name ?? null,
      is_default: isDefault ? 1 : 0,
      created_at: now,
      last_used_at: now,
      timeout_s: timeout,
      memory_mb: memory,
      pids: this.config.pids,
      network: 'none',
    });
    const rt = this.newRuntime([]);
    this.runtimes.set(id, rt);
    if (box) this.attach(id, rt, box);
    else {
      // Start the box now so the first execute does not wait for it; errors surface on that execute.
      rt.starting = this.startBox(id, memory);
      rt.starting.then(
        (b) => this.attach(id, rt, b),
        () => {
          rt.starting = null;
        },
      );
    }
    return this.info(this.sessions.get(id)!);
  }

  /** The caller's session: the one named, or the caller's default session (created on first use). */
  async resolve(owner: string, sessionId?: string): Promise<SessionRow> {
    if (sessionId !== undefined) {
      const row = isSessionId(sessionId) ? this.sessions.get(sessionId) : undefined;
      if (!row || row.owner !== owner) {
        throw notFound(
          'session',
          sessionId,
          'call list_sessions to see your sessions, or omit session_id to use your default session',
        );
      }
      return row;
    }
    const existing = this.sessions.defaultFor(owner);
    if (existing) return existing;
    // Parallel first calls from one client must share one default session.
    let creating = this.defaultCreating.get(owner);
    if (!creating) {
      creating = this.create(owner, {}, true).finally(() => this.defaultCreating.delete(owner));
      this.defaultCreating.set(owner, creating);
    }
    const created = await creating;
    return this.sessions.get(created.session_id)!;
  }

  list(owner: string): SessionInfo[] {
    return this.sessions.listOpen(owner).map((r) => this.info(r));
  }

  get(owner: string, sessionId: string): SessionInfo {
    const row = isSessionId(sessionId) ? this.sessions.get(sessionId) : undefined;
    if (!row || row.owner !== owner) throw notFound('session', sessionId);
    return this.info(row);
  }

  async close(owner: string, sessionId: string): Promise<{ session_id: string; closed: boolean }> {
    const row = isSessionId(sessionId) ? this.sessions.get(sessionId) : undefined;
    if (!row || row.owner !== owner) throw notFound('session', sessionId);
    await this.closeRow(row);
    return { session_id: row.id, closed: true };
  }

  /** Runs Python code in the session; calls to one session run one after another. */
  async execute(
    owner: string,
    sessionId: string | undefined,
    code: string,
    opts: ExecuteOptions = {},
  ): Promise<ExecuteResult> {
    this.requireIsolation();
    const row = await this.resolve(owner, sessionId);
    const timeoutS = opts.timeout_s ?? row.timeout_s;
    if (!(timeoutS > 0) || timeoutS > 86_400)
      throw invalidArgument('timeout must be between 0 and 86400 seconds');
    const rt = this.runtime(row.id);
    return this.enqueue(rt, () => this.runExecute(row, rt, code, timeoutS, opts));
  }

  /** Asks the session's agent for its environment (python, sys.path, venv, limits). */
  async info_env(
    owner: string,
    sessionId: string | undefined,
  ): Promise<{ session: SessionInfo; env: Record<string, unknown>; box: Box }> {
    this.requireIsolation();
    const row = await this.resolve(owner, sessionId);
    const rt = this.runtime(row.id);
    const box = await this.ensureBox(row, rt);
    const final = await box.request({ op: 'info' }, undefined, 10_000).done;
    return { session: this.info(row), env: final.info ?? {}, box };
  }

  workspaceOf(owner: string, sessionId: string): string {
    const row = this.sessions.get(sessionId);
    if (!row || row.owner !== owner) throw notFound('session', sessionId);
    return sessionPaths(this.config.dataDir, row.id).workspace;
  }

  history(sessionId: string) {
    return this.executions.list(sessionId);
  }

  async shutdown(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    await this.pool.close();
    await Promise.all(
      [...this.runtimes.values()].map(async (rt) => {
        const box = rt.box ?? (rt.starting ? await rt.starting.catch(() => null) : null);
        await box?.close();
      }),
    );
  }

  async reapIdle(now = Date.now()): Promise<string[]> {
    const before = new Date(now - this.config.idleTtlS * 1000).toISOString();
    const reaped: string[] = [];
    for (const row of this.sessions.idleSince(before)) {
      const rt = this.runtimes.get(row.id);
      if (rt && rt.busy > 0) continue;
      await this.closeRow(row);
      reaped.push(row.id);
    }
    if (reaped.length) this.log('reaped idle sessions', { reaped });
    return reaped;
  }

  private async runExecute(
    row: SessionRow,
    rt: Runtime,
    code: string,
    timeoutS: number,
    opts: ExecuteOptions,
  ): Promise<ExecuteResult> {
    const box = await this.ensureBox(row, rt);
    const count = this.sessions.nextExecutionCount(row.id);
    const started = new Date();
    const t0 = performance.now();
    const events: AgentEvent[] = [];
    const oomBefore = box.oomKills();
    const timeoutMs = Math.round(timeoutS * 1000);
    let lastProgress = 0;
    let pendingText = '';
    const onEvent = (ev: AgentEvent) => {
      events.push(ev);
      if (!opts.onProgress || ev.type !== 'stream') return;
      pendingText += ev.text;
      const elapsed = performance.now() - t0;
      if (elapsed >= 1000 && elapsed - lastProgress >= 250) {
        lastProgress = elapsed;
        opts.onProgress(pendingText, elapsed);
        pendingText = '';
      }
    };
    const req = box.request(
      {
        op: 'execute',
        code,
        timeout_ms: timeoutMs,
        grace_ms: this.config.graceMs,
        output_cap: this.config.outputCap,
        execution_count: count,
      },
      onEvent,
      timeoutMs + this.config.graceMs + 10_000,
    );
    const onAbort = () => box.notify({ op: 'interrupt', target: req.id });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let final: AgentFinal;
    try {
      final = await req.done;
    } catch (err) {
      // The whole box died (the agent itself was killed, e.g. by the OOM killer): start over next call.
      const oom = box.oomKills() > oomBefore;
      rt.box = null;
      await box.close();
      final = {
        type: 'final',
        id: req.id,
        status: 'killed',
        execution_count: count,
        duration_ms: performance.now() - t0,
        state_preserved: false,
        kernel_restarted: true,
        signal: 9,
      };
      if (!oom) this.log('box died during execute', { session: row.id, err: String(err) });
      return this.finish(row, rt, code, started, final, events, count, timeoutS, oom, box);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    const oom = final.status === 'killed' && box.oomKills() > oomBefore;
    return this.finish(row, rt, code, started, final, events, count, timeoutS, oom, box);
  }

  private finish(
    row: SessionRow,
    rt: Runtime,
    code: string,
    started: Date,
    final: AgentFinal,
    events: AgentEvent[],
    count: number,
    timeoutS: number,
    oomKilled: boolean,
    box: Box,
  ): ExecuteResult {
    const usage = box.usage();
    const notices = rt.notices.splice(0);
    if (this.config.isolation === 'none') {
      notices.push(
        "WARNING: isolation is off (--isolation none): this code ran without a sandbox, with the server user's rights",
      );
    }
    const result = buildExecuteResult(final, events, {
      sessionId: row.id,
      executionCount: count,
      timeoutS,
      memoryMb: row.memory_mb,
      oomKilled,
      isolation: this.config.isolation,
      notices,
      memoryPeakBytes: usage.memory_peak_bytes,
      pids: usage.pids,
    });
    this.sessions.touch(row.id, new Date().toISOString());
    const outputs = events
      .filter((e) => e.type !== 'stream')
      .map((e) => {
        const { id: _id, ...rest } = e;
        return rest;
      });
    this.executions.insert({
      session_id: row.id,
      execution_count: count,
      kind: 'python',
      code,
      status: result.status,
      started_at: started.toISOString(),
      duration_ms: result.duration_ms,
      outputs: JSON.stringify({ stdout: result.stdout, stderr: result.stderr, items: outputs }),
    });
    return result;
  }

  private async enqueue<T>(rt: Runtime, job: () => Promise<T>): Promise<T> {
    rt.busy++;
    const run = rt.queue.then(job, job);
    rt.queue = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      rt.busy--;
    }
  }

  private runtime(id: string): Runtime {
    let rt = this.runtimes.get(id);
    if (!rt) {
      rt = this.newRuntime([]);
      this.runtimes.set(id, rt);
    }
    return rt;
  }

  private newRuntime(notices: string[]): Runtime {
    return { box: null, starting: null, queue: Promise.resolve(), busy: 0, notices };
  }

  private async ensureBox(row: SessionRow, rt: Runtime): Promise<Box> {
    if (rt.box?.alive) return rt.box;
    if (rt.box && !rt.box.alive) {
      rt.box = null;
      rt.notices.push(
        'the sandbox had stopped and was restarted: Python state was reset; workspace files are kept',
      );
    }
    if (!rt.starting) {
      rt.starting = this.startBox(row.id, row.memory_mb);
      rt.starting.then(
        (b) => this.attach(row.id, rt, b),
        () => {
          rt.starting = null;
        },
      );
    }
    try {
      return await rt.starting;
    } catch (err) {
      rt.starting = null;
      throw err;
    }
  }

  private attach(_id: string, rt: Runtime, box: Box): void {
    rt.box = box;
    rt.starting = null;
  }

  private async startBox(id: string, memoryMb: number): Promise<Box> {
    const paths = sessionPaths(this.config.dataDir, id);
    ensureSessionDirs(paths, existsSync(this.mplSeedDir) ? this.mplSeedDir : null);
    return Box.start({
      name: id,
      workspace: paths.workspace,
      mplConfigDir: paths.mplConfigDir,
      agentDir: AGENT_DIR,
      isolation: this.config.isolation,
      bwrapPath: this.config.bwrapPath,
      python: this.config.python,
      limits: {
        memoryBytes: memoryMb * 1024 * 1024,
        pids: this.config.pids,
        fileSizeBytes: this.config.fileSizeMb * 1024 * 1024,
        openFiles: this.config.openFiles,
      },
    });
  }

  private async closeRow(row: SessionRow): Promise<void> {
    this.sessions.close(row.id, new Date().toISOString());
    const rt = this.runtimes.get(row.id);
    this.runtimes.delete(row.id);
    if (rt) {
      const box = rt.box ?? (rt.starting ? await rt.starting.catch(() => null) : null);
      await box?.close();
    }
    removeDir(sessionPaths(this.config.dataDir, row.id).root);
  }

  private requireIsolation(): void {
    if (this.config.isolation === 'bwrap' && !existsSync(this.config.bwrapPath)) {
      throw new SandboxError(
        'isolation_unavailable',
        `bubblewrap was not found at ${this.config.bwrapPath}, so code cannot run isolated`,
        { bwrap: this.config.bwrapPath },
        'install it (apt-get install bubblewrap) and check with `sandbox-mcp doctor`, or start the server with --isolation none to run code unsandboxed',
      );
    }
  }

  private info(row: SessionRow): SessionInfo {
    const rt = this.runtimes.get(row.id);
    return {
      session_id: row.id,
      name: row.name,
      is_default: row.is_default === 1,
      created_at: row.created_at,
      last_used_at: row.last_used_at,
      timeout_s: row.timeout_s,
      memory_mb: row.memory_mb,
      pids: row.pids,
      network: row.network,
      execution_count: row.execution_count,
      running: Boolean(rt?.box?.alive),
      workspace: '/workspace',
    };
  }
}
