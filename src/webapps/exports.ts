// The web-app export service: writes a Docker bundle for an app (detected requirements, Dockerfile, compose file,
// README), smoke-tests it in a fresh box, and lists, describes, removes and builds exports. Never builds an image
// unless asked, never overwrites an export, never reads a session's files outside its workspace.
import { lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { invalidArgument, notFound } from '../errors.js';
import { Dir, withDirAsync } from '../fsafe/dir.js';
import { ByteBudget, formatBytes } from '../fsafe/byte-budget.js';
import { copyOut, sizeOf } from '../fsafe/copy.js';
import { normalizeName } from '../packages/spec.js';
import { workspaceSegments } from '../workspace/paths.js';
import { withFrozenBox } from '../sandbox/freezer.js';
import type { SessionService } from '../sessions/service.js';
import { probeApp, type ProbeResult } from './agent-ops.js';
import {
  DOCKERIGNORE,
  compose,
  dockerfile,
  imageName,
  readme,
  requirementsTxt,
  type BundleSpec,
} from './bundle.js';
import { EXPORT_PORT, detectAppType, dockerCommand, requestedAppType, smokeCommand } from './commands.js';
import { buildArgs, dockerBuild, validateTag, type BuildArgs } from './docker.js';
import { defaultExportName, validateExportName } from './export-names.js';
import { ExportStore, type ExportManifest } from './export-store.js';
import { buildRequirements, extraDistributions } from './requirements.js';
import type { WebAppService } from './service.js';
import { smokeTest } from './smoke.js';
import type {
  AppType,
  AppTypeArg,
  BuildResult,
  ExportDetails,
  ExportFile,
  ExportInfo,
  ExportRemoved,
} from './types.js';
import { readAppFile } from './workspace-files.js';

export interface BuildOptions extends BuildArgs {
  tag?: string | undefined;
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ExportArgs {
  code?: string | undefined;
  app_id?: string | undefined;
  app_type?: AppTypeArg | undefined;
  export_name?: string | undefined;
  session_id?: string | undefined;
}

/** Export steps, reported as progress: requirements, bundle files, smoke test. */
export const EXPORT_STEPS = 3;
export type ExportProgress = (step: number, total: number, message: string) => void;

export interface DetailsOptions {
  include_contents?: boolean | undefined;
  /** Per file; contents past it are cut. */
  max_bytes_per_file?: number | undefined;
}

/** Bytes (apparent size) of workspace files one export copies at most: local modules and a static folder alike. */
const EXPORT_COPY_LIMIT = 50 * 1024 * 1024;
/** Files left out by the limit that a result names one by one; the rest are counted. */
const LEFT_OUT_NAMED = 10;
const MAX_APP_FILE = 4 * 1024 * 1024;
const CONTENT_TOTAL_CAP = 256 * 1024;

interface Source {
  sessionId: string | undefined;
  type: AppType;
  code: string;
  /** Workspace-relative folders where the app's local modules live (box cwd is the workspace). */
  searchDirs: string[];
  /** static: a workspace folder to ship as the site, or the page given as code. */
  staticFolder: string | null;
  staticHtml: string | null;
  appId: string | null;
}

export class WebAppExportService {
  private readonly store: ExportStore;

  constructor(
    private readonly config: Config,
    private readonly sessions: SessionService,
    private readonly webapps: WebAppService,
    private readonly opts: { smokeTimeoutMs?: number } = {},
  ) {
    this.store = new ExportStore(join(config.dataDir, 'exports'));
  }

  async export(
    owner: string,
    args: ExportArgs,
    onProgress: ExportProgress = () => {},
  ): Promise<ExportDetails> {
    const name = args.export_name !== undefined ? validateExportName(args.export_name) : undefined;
    const src = await this.source(owner, args);
    onProgress(0, EXPORT_STEPS, 'detecting requirements');
    const { probe, workspace, sessionId } = await this.sessions.useBox(
      owner,
      src.sessionId,
      async (box, session) => ({
        probe: await probeApp(box, src.code, src.searchDirs, extraDistributions(src.type)),
        workspace: session.workspace,
        sessionId: session.sessionId,
      }),
      { queued: false },
    );
    const reqs = buildRequirements(probe, src.type);
    const warnings = [...reqs.warnings, ...this.codeWarnings(src.type, probe)];
    const appObject = probe.app_object ?? 'app';
    const exportName = name ?? this.reserveFreeName(src.type);
    const spec: BundleSpec = {
      name: exportName,
      type: src.type,
      appObject,
      pythonVersion: probe.python_version,
      requirements: reqs.lines,
      warnings,
    };
    if (name !== undefined) this.store.reserve(exportName);
    let staging: string | null = null;
    try {
      onProgress(1, EXPORT_STEPS, 'writing the bundle');
      staging = this.store.newStaging(exportName);
      const into = staging;
      await withFrozenBox(sessionId, () => this.writeSources(into, src, probe, workspace, warnings));
      writeFileSync(join(staging, 'requirements.txt'), requirementsTxt(spec));
      writeFileSync(join(staging, 'Dockerfile'), dockerfile(spec));
      writeFileSync(join(staging, 'docker-compose.yml'), compose(spec));
      writeFileSync(join(staging, '.dockerignore'), DOCKERIGNORE);
      writeFileSync(join(staging, 'README.md'), readme(spec));
      const installed = new Set(Object.keys(probe.versions).map(normalizeName));
      const cmd = smokeCommand(
        src.type,
        appObject,
        (m) => m === 'http.server' || installed.has(normalizeName(m)),
      );
      onProgress(2, EXPORT_STEPS, 'smoke-testing the bundle in a fresh box');
      const smoke = await smokeTest(
        this.config,
        staging,
        cmd,
        dockerCommand(src.type, appObject),
        this.opts.smokeTimeoutMs ?? 30_000,
        workspace,
      );
      smoke.note +=
        ". Packages came from the session's Python, its virtualenv included (the box has no network to install " +
        'requirements.txt)';
      const manifest: ExportManifest = {
        export_name: exportName,
        app_type: src.type,
        created_at: new Date().toISOString(),
        path: this.store.dir(exportName),
        session_id: sessionId,
        source_app_id: src.appId,
        python_version: probe.python_version,
        requirements: reqs.lines,
        smoke_test: smoke,
        warnings,
        owner,
        app_object: appObject,
        requirement_entries: reqs.entries,
      };
      this.store.commit(exportName, staging, manifest);
    } catch (err) {
      this.store.abort(exportName, staging);
      throw err;
    }
    return this.details(owner, exportName);
  }

  list(owner: string): ExportInfo[] {
    return this.store
      .list()
      .filter((m) => m.owner === owner)
      .map(toInfo);
  }

  details(owner: string, exportName: string, opts: DetailsOptions = {}): ExportDetails {
    const m = this.owned(owner, exportName);
    const perFile = Math.min(Math.max(opts.max_bytes_per_file ?? 64 * 1024, 1), CONTENT_TOTAL_CAP);
    let budget = CONTENT_TOTAL_CAP;
    const files: ExportFile[] = listFiles(this.store.dir(exportName)).map(({ path, size }) => {
      const f: ExportFile = { path, size };
      if (opts.include_contents && budget > 0) {
        const buf = readFileSync(join(this.store.dir(exportName), path));
        if (!buf.subarray(0, 8192).includes(0)) {
          const take = Math.min(buf.length, perFile, budget);
          budget -= take;
          f.content = buf.subarray(0, take).toString('utf8');
          f.content_truncated = take < buf.length;
        }
      }
      return f;
    });
    return { ...toInfo(m), files, requirement_entries: m.requirement_entries };
  }

  cleanup(owner: string, exportName: string): ExportRemoved {
    this.owned(owner, exportName);
    const freed = listFiles(this.store.dir(exportName)).reduce((a, f) => a + f.size, 0);
    this.store.remove(exportName);
    return { export_name: exportName, removed: true, freed_bytes: freed };
  }

  async build(owner: string, exportName: string, opts: BuildOptions = {}): Promise<BuildResult> {
    const m = this.owned(owner, exportName);
    const tag = opts.tag !== undefined ? validateTag(opts.tag) : `${imageName(exportName)}:latest`;
    return dockerBuild({
      exportName,
      dir: this.store.dir(exportName),
      tag,
      port: EXPORT_PORT[m.app_type],
      buildArgs: buildArgs(opts),
      onLine: opts.onLine,
      signal: opts.signal,
    });
  }

  private owned(owner: string, exportName: string): ExportManifest {
    validateExportName(exportName);
    const m = this.store.read(exportName);
    if (!m || m.owner !== owner)
      throw notFound('export', exportName, 'call list_web_app_exports to see your exports');
    return m;
  }

  private async source(owner: string, args: ExportArgs): Promise<Source> {
    const hasCode = args.code !== undefined && args.code.trim() !== '';
    if (hasCode === (args.app_id !== undefined)) {
      throw invalidArgument('pass either code or app_id (one of them)');
    }
    const requested = requestedAppType(args.app_type);
    if (args.app_id !== undefined) {
      const app = this.webapps.source(owner, args.app_id);
      if (args.session_id !== undefined && args.session_id !== app.sessionId) {
        throw invalidArgument(`app ${args.app_id} belongs to another session`);
      }
      if (requested !== null && requested !== app.appType) {
        throw invalidArgument(`app ${args.app_id} is a ${app.appType} app, not ${requested}`);
      }
      const isStatic = app.appType === 'static';
      return {
        sessionId: app.sessionId,
        type: app.appType,
        code: isStatic ? '' : await this.readWorkspaceFile(owner, app.sessionId, app.source),
        searchDirs: isStatic ? [] : [dirname(app.source), '.'],
        staticFolder: isStatic ? app.source : null,
        staticHtml: null,
        appId: args.app_id,
      };
    }
    const code = args.code ?? '';
    const type = requested ?? detectAppType(code);
    if (!type) throw invalidArgument('could not tell the kind of app from its imports: pass app_type');
    return {
      sessionId: args.session_id,
      type,
      code: type === 'static' ? '' : code,
      searchDirs: type === 'static' ? [] : ['.'],
      staticFolder: null,
      staticHtml: type === 'static' ? code : null,
      appId: null,
    };
  }

  private async readWorkspaceFile(owner: string, sessionId: string, rel: string): Promise<string> {
    const ws = (await this.sessions.workspace(owner, sessionId)).path;
    return readAppFile(ws, rel, MAX_APP_FILE);
  }

  /**
   * Copies the app's files out of the workspace into the bundle, with the box stopped, through folder descriptors
   * (copyOut): nothing the box swaps for a symlink is followed, so no host file can end up in a bundle. All copied
   * files share one budget, EXPORT_COPY_LIMIT by apparent size; what would pass it is left out with a warning.
   */
  private async writeSources(
    staging: string,
    src: Source,
    probe: ProbeResult,
    workspace: string,
    warnings: string[],
  ): Promise<void> {
    const budget = new ByteBudget(EXPORT_COPY_LIMIT);
    const leftOut: Array<{ path: string; size: number }> = [];
    if (src.type === 'static') {
      if (src.staticFolder !== null) {
        const segs = workspaceSegments(src.staticFolder);
        const copied = await withDirAsync(Dir.openPath(realpathSync(workspace)), (root) =>
          copyOut(root, segs, join(staging, 'static'), { budget, leftOut }),
        );
        if (!copied) throw notFound('folder', src.staticFolder);
        warnings.push(...leftOutWarnings(leftOut));
      } else {
        mkdirSync(join(staging, 'static'));
        writeFileSync(join(staging, 'static', 'index.html'), src.staticHtml ?? '');
      }
      return;
    }
    writeFileSync(join(staging, 'app.py'), src.code);
    const skip = (name: string) => name === '__pycache__';
    await withDirAsync(Dir.openPath(realpathSync(workspace)), async (root) => {
      for (const rel of probe.local_files) {
        if (basename(rel) === 'app.py') continue;
        let segs: string[];
        try {
          segs = workspaceSegments(rel);
        } catch {
          continue;
        }
        if (segs.length === 0) continue;
        if ((await sizeOf(root, segs, { skip, stopAbove: budget.left })) > budget.left) {
          warnings.push(
            `local module '${rel}' was not copied: the export's files would pass ${formatBytes(EXPORT_COPY_LIMIT)}`,
          );
          continue;
        }
        await copyOut(root, segs, join(staging, basename(rel)), { skip, budget, leftOut });
      }
    });
    warnings.push(...leftOutWarnings(leftOut));
  }

  private codeWarnings(type: AppType, probe: ProbeResult): string[] {
    const out: string[] = [];
    if ((type === 'flask' || type === 'fastapi') && probe.app_object === null) {
      out.push(
        `no module-level ${type === 'flask' ? 'Flask' : 'FastAPI'} object found: the Dockerfile assumes it is named 'app'`,
      );
    }
    if ((type === 'flask' || type === 'fastapi') && probe.unguarded_run) {
      out.push(
        "the code calls .run() at module level: wrap it in `if __name__ == '__main__':` so the server can import it",
      );
    }
    return out;
  }

  /** A default name, reserved; two exports started in the same second get -2, -3… */
  private reserveFreeName(type: AppType): string {
    const base = defaultExportName(type);
    for (let i = 1; i <= 100; i++) {
      const name = i === 1 ? base : `${base}-${i}`;
      if (this.store.exists(name)) continue;
      try {
        this.store.reserve(name);
        return name;
      } catch {
        // taken in between: try the next
      }
    }
    throw invalidArgument('could not find a free export name; pass export_name');
  }
}

/** Warnings for files the export's byte limit left out: the first few by name, the rest counted. */
function leftOutWarnings(leftOut: ReadonlyArray<{ path: string; size: number }>): string[] {
  const out = leftOut
    .slice(0, LEFT_OUT_NAMED)
    .map(
      (f) =>
        `'${f.path}' (${formatBytes(f.size)}) was not copied: the export's files would pass ${formatBytes(EXPORT_COPY_LIMIT)}`,
    );
  if (leftOut.length > LEFT_OUT_NAMED) {
    out.push(`${leftOut.length - LEFT_OUT_NAMED} more files were not copied for the same reason`);
  }
  return out;
}

function toInfo(m: ExportManifest): ExportInfo {
  return {
    export_name: m.export_name,
    app_type: m.app_type,
    created_at: m.created_at,
    path: m.path,
    session_id: m.session_id,
    source_app_id: m.source_app_id,
    python_version: m.python_version,
    requirements: m.requirements,
    smoke_test: m.smoke_test,
    warnings: m.warnings,
  };
}

/** Files under dir (or dir itself when it is a file), with sizes, sorted by path. */
function listFiles(dir: string): Array<{ path: string; size: number }> {
  const st = lstatSync(dir);
  if (st.isFile()) return [{ path: basename(dir), size: st.size }];
  const out: Array<{ path: string; size: number }> = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out.push({ path: full.slice(dir.length + 1), size: lstatSync(full).size });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
