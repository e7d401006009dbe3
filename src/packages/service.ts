// The packages service: install_package into a session's /workspace/.venv (created on first use) from the index
// the host is configured for, and list what a session can import. Installs run in a throwaway box whose network
// reaches that index only; the session's own box never gains network from an install.
import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import { SandboxError } from '../errors.js';
import type { NetworkService } from '../network/service.js';
import { requireInstallTimeout } from '../sessions/caps.js';
import type { SessionService } from '../sessions/service.js';
import { installError, tail } from './install-error.js';
import { OUTPUT_CAP, runInstall } from './install-run.js';
import { runOneShot } from './one-shot.js';
import { checkedListReport, checkedPackages } from './report-check.js';
import type { InstallResult, ListResult } from './result-schemas.js';
import { listScript, readReport } from './scripts.js';
import { parsePackageSpec } from './spec.js';
import { venvPaths, venvState } from './venv.js';

export type { InstalledPackage, InstallResult, ListResult } from './result-schemas.js';

export interface InstallRequest {
  package: string;
  version?: string | undefined;
  timeout_s?: number | undefined;
}

export interface InstallCallOptions {
  signal?: AbortSignal | undefined;
  /** Each line of installer output, as it comes. */
  onLine?: ((line: string) => void) | undefined;
}

/** One finished install attempt, for the audit log. */
export interface InstallEvent {
  sessionId: string;
  owner: string;
  requirement: string;
  /** 'ok' or the error code. */
  status: string;
  durationMs: number;
}

const RESTART_NOTICE =
  'packages: the session now runs on its virtualenv (/workspace/.venv); Python variables and imports were reset, files are kept';

export class PackageService {
  readonly events = new EventEmitter<{ install: [InstallEvent] }>();

  constructor(
    private readonly config: Config,
    private readonly sessions: SessionService,
    private readonly network: NetworkService,
  ) {
    // On every box start (first use, restart, server restart): a usable venv in the workspace becomes the Python.
    sessions.addBoxCustomizer((box, opts) => {
      const v = venvState(box.workspace);
      if (v.state === 'usable') opts.python = venvPaths(box.workspace, config.isolation).boxPython;
      else if (v.state === 'broken') {
        sessions.addNotice(
          box.sessionId,
          `the virtualenv /workspace/.venv is not usable (${v.reason}); the system Python runs instead`,
        );
      }
    });
  }

  async install(
    owner: string,
    sessionId: string | undefined,
    req: InstallRequest,
    call: InstallCallOptions = {},
  ): Promise<InstallResult> {
    const spec = parsePackageSpec(req.package, req.version, this.config.allowPackageUrls);
    requireInstallTimeout(this.config, req.timeout_s);
    const t0 = performance.now();
    let audited: string | null = null; // known once the call has its session
    const audit = (status: string) =>
      this.events.emit('install', {
        sessionId: audited ?? '',
        owner,
        requirement: spec.requirement,
        status,
        durationMs: performance.now() - t0,
      });
    const outcome = await this.sessions
      .useBox(owner, sessionId, async (box, session) => {
        audited = session.sessionId;
        const r = await runInstall(this.config, this.network, session, spec, {
          timeoutS: req.timeout_s ?? Math.max(session.row.timeout_s, 600),
          signal: call.signal,
          onLine: call.onLine,
        });
        if (r.exitCode !== 0) return { r, restart: false, sessionId: session.sessionId };
        // Restart only when the running Python is not the venv's yet (the first install, or a venv made by hand).
        const info = await box.request({ op: 'info' }, undefined, 10_000).done.catch(() => null);
        const inVenv = info?.info?.['venv'] === true;
        return {
          r,
          restart: !inVenv && venvState(session.workspace).state === 'usable',
          sessionId: session.sessionId,
        };
      })
      .catch((err: unknown) => {
        // An install that never produced a result (its box died, the session was closed) is audited too.
        if (audited !== null) audit(err instanceof SandboxError ? err.code : 'internal');
        throw err;
      });
    const { r } = outcome;
    const error = r.exitCode !== 0 ? installError(r, spec.requirement) : null;
    audit(error?.code ?? 'ok');
    if (error) throw error;
    if (outcome.restart) await this.sessions.restartBox(owner, outcome.sessionId, RESTART_NOTICE);
    return {
      session_id: outcome.sessionId,
      requirement: spec.requirement,
      installed: r.installed,
      installer: r.plan.installer,
      venv: r.venv,
      venv_created: r.venvCreated,
      python_restarted: outcome.restart,
      index: r.plan.index,
      allowed_hosts: r.plan.networkRules,
      warnings: [...r.plan.warnings, ...r.warnings],
      output_tail: tail(r.output),
      duration_ms: Math.round(performance.now() - t0),
    };
  }

  async list(owner: string, sessionId: string | undefined): Promise<ListResult> {
    // The listing runs in a one-shot box: the session's own box is not needed (nor started).
    this.sessions.requireIsolation();
    return this.sessions.queued(owner, sessionId, async (session) => {
      const v = venvPaths(session.workspace, this.config.isolation);
      const python = venvState(session.workspace).state === 'usable' ? v.boxPython : this.config.python;
      const run = await runOneShot(this.config, {
        session,
        label: 'pkglist',
        python,
        code: listScript(),
        timeoutMs: 60_000,
        outputCap: OUTPUT_CAP,
      });
      const raw = readReport(run.stdout);
      if (run.status !== 'ok' || !raw) {
        throw new SandboxError('internal', 'listing the installed packages failed', {
          output: tail(run.output),
        });
      }
      const report = checkedListReport(raw, tail(run.output));
      const { packages, warnings } = checkedPackages(report.packages);
      return {
        session_id: session.sessionId,
        python: report.python,
        python_version: report.version,
        venv: report.venv,
        packages,
        counts: {
          venv: packages.filter((p) => p.source === 'venv').length,
          system: packages.filter((p) => p.source === 'system').length,
        },
        warnings,
      };
    });
  }
}
