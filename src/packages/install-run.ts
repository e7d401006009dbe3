// One install attempt: plan it from the host's pip configuration, open a proxy limited to the index hosts, and run
// the venv + installer script in a throwaway box. It never gives the install box any host but the index's.
import { existsSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { BOX_PROXY_SOCKET, proxyEnvironment } from '../network/box-wiring.js';
import { parseDomainRules } from '../network/domains.js';
import type { ProxyDenial } from '../network/proxy.js';
import type { NetworkService } from '../network/service.js';
import type { FinalStatus } from '../sandbox/protocol.js';
import type { SessionHandle } from '../sessions/service.js';
import { runOneShot } from './one-shot.js';
import { readHostPipConfig } from './pip-config.js';
import { planInstall, type InstallPlan } from './plan.js';
import { checkedInstallReport, checkedInstalled } from './report-check.js';
import type { InstalledPackage } from './result-schemas.js';
import { REPORT_MARKER, installScript, readReport } from './scripts.js';
import type { PackageSpec } from './spec.js';
import { venvPaths } from './venv.js';

export interface InstallRun {
  plan: InstallPlan;
  status: FinalStatus;
  /** The failing step's exit code; -1 when the script itself did not finish. */
  exitCode: number;
  stage: string;
  venvCreated: boolean;
  installed: InstalledPackage | null;
  /** Why `installed` is empty when the run reported one that is not valid. */
  warnings: string[];
  output: string;
  denials: ProxyDenial[];
  venv: string;
  timeoutS: number;
}

export interface RunInstallOptions {
  timeoutS: number;
  signal?: AbortSignal | undefined;
  onLine?: ((line: string) => void) | undefined;
}

export const OUTPUT_CAP = 8 << 20;

const INSTALL_ENV: Record<string, string> = {
  // The box's own pip configuration (a user file in /workspace) must not redirect the install.
  PIP_CONFIG_FILE: '/dev/null',
  PIP_CACHE_DIR: '/tmp/pip-cache',
  PIP_DISABLE_PIP_VERSION_CHECK: '1',
  PIP_NO_INPUT: '1',
  PIP_NO_WARN_SCRIPT_LOCATION: '1',
  UV_CACHE_DIR: '/tmp/uv-cache',
  UV_NO_CONFIG: '1',
  PYTHONNOUSERSITE: '1',
};

function pathKind(p: string): 'dir' | 'file' | null {
  try {
    const st = statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

/** uv when it is installed where a box sees it (the box binds /usr), else null. */
function findUv(): string | null {
  for (const p of ['/usr/local/bin/uv', '/usr/bin/uv']) if (existsSync(p)) return p;
  return null;
}

/** Splits streamed output into whole lines for progress; the report line is not progress. */
function lineSplitter(onLine: (line: string) => void): (text: string) => void {
  let pending = '';
  return (text) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) if (l.trim() && !l.startsWith(REPORT_MARKER)) onLine(l);
  };
}

export async function runInstall(
  config: Config,
  network: NetworkService,
  session: SessionHandle,
  spec: PackageSpec,
  opts: RunInstallOptions,
): Promise<InstallRun> {
  const v = venvPaths(session.workspace, config.isolation);
  const uv = findUv();
  const plan = planInstall({
    config: await readHostPipConfig(config.python),
    spec,
    venvPython: v.boxPython,
    uv,
    isolation: config.isolation,
    pathKind,
  });
  const proxy =
    plan.networkRules.length > 0 && config.isolation === 'bwrap'
      ? network.openEphemeral(parseDomainRules(plan.networkRules), `install ${session.sessionId}`)
      : null;
  try {
    const run = await runOneShot(config, {
      session,
      label: 'install',
      python: config.python,
      code: installScript({
        venv: v.boxVenv,
        venv_python: v.boxPython,
        base_python: config.python,
        uv,
        argv: plan.argv,
        name: spec.name,
        cwd: '/tmp',
      }),
      timeoutMs: Math.round(opts.timeoutS * 1000),
      outputCap: OUTPUT_CAP,
      env: { ...INSTALL_ENV, ...plan.env, ...(proxy ? proxyEnvironment(false) : {}) },
      roBinds: [...plan.roBinds, ...(proxy ? [{ host: proxy.socketPath, box: BOX_PROXY_SOCKET }] : [])],
      signal: opts.signal,
      onOutput: opts.onLine ? lineSplitter(opts.onLine) : undefined,
    });
    const report = checkedInstallReport(readReport(run.stdout));
    const installed = checkedInstalled(report?.installed);
    return {
      plan,
      status: run.status,
      exitCode: run.status === 'ok' && report ? report.exit_code : -1,
      stage: report?.stage ?? 'install',
      venvCreated: report?.venv_created === true,
      installed: installed.installed,
      warnings: installed.warnings,
      output: run.output.replace(new RegExp(`\\n?${REPORT_MARKER}.*\\n?`), '\n'),
      denials: proxy ? [...proxy.denials] : [],
      venv: v.boxVenv,
      timeoutS: opts.timeoutS,
    };
  } finally {
    await proxy?.close();
  }
}
