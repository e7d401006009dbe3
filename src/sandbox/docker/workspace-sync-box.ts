// The volume workspace of one Docker box, from creation to removal: its two volumes, the first copy of the host
// folders into them before the box starts, the sync around every call that runs code, and the removal with the box.
import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors.js';
import { BOX_MPLCONFIG_DIR } from '../bwrap-argv.js';
import type { BoxOptions } from '../box.js';
import type { AgentFinal, AgentRequest } from '../protocol.js';
import type { BoxVolumes } from './container-spec.js';
import type { Engine } from './engine.js';
import { workspaceMode } from './endpoint.js';
import { WorkspaceSync } from './workspace-sync.js';
import { createBoxVolumes, removeBoxVolumes } from './workspace-volume.js';

export type WorkspaceAsk = 'auto' | 'bind' | 'volume';

/**
 * Which workspace a box on this engine gets; a bind-mounted workspace on an engine that does not share this
 * machine's files is refused.
 */
export function chooseWorkspace(engine: Engine, asked: WorkspaceAsk): 'bind' | 'volume' {
  const mode = workspaceMode(asked, engine.endpoint);
  if (engine.endpoint.local || mode === 'volume') return mode;
  throw new SandboxError(
    'isolation_unavailable',
    `the Docker engine at ${engine.endpoint.host} is remote: a bind-mounted workspace needs an engine on this machine`,
    { docker_host: engine.endpoint.host, docker_workspace: mode },
    'use --docker-workspace volume (or auto), or a local engine (a unix socket)',
  );
}

/**
 * The box's other bind mounts (the web-app socket folder, the allowlist proxy's socket, a Python outside the image):
 * on a remote engine they would name folders of the engine's machine, so they are left out there, and what needs
 * them does not work (web apps are not reachable, the allowlist network has no way out: both fail closed).
 */
export function hostBinds(
  engine: Engine,
  opts: BoxOptions,
): Pick<BoxOptions, 'extraRoBinds' | 'extraRwBinds'> {
  if (engine.endpoint.local) return { extraRoBinds: opts.extraRoBinds, extraRwBinds: opts.extraRwBinds };
  return { extraRoBinds: [], extraRwBinds: [] };
}

export class VolumeWorkspace {
  private constructor(
    private readonly engine: Engine,
    readonly volumes: BoxVolumes,
    readonly sync: WorkspaceSync,
    private readonly mplConfigDir: string,
    private readonly owner: { uid: number; gid: number },
  ) {}

  /** Creates the box's volumes (given to the box uid) and its sync; nothing is copied yet. */
  static async create(
    engine: Engine,
    p: { instance: string; image: string; uid: number; gid: number },
    opts: BoxOptions,
    log?: (msg: string, extra: Record<string, unknown>) => void,
  ): Promise<VolumeWorkspace> {
    const volumes = await createBoxVolumes(engine, { ...p, name: opts.name });
    const sync = new WorkspaceSync(
      engine,
      opts.workspace,
      { uid: p.uid, gid: p.gid },
      opts.limits.fileSizeBytes,
      log,
    );
    return new VolumeWorkspace(engine, volumes, sync, opts.mplConfigDir, { uid: p.uid, gid: p.gid });
  }

  /** Into the created (not yet started) container: the host workspace, and the matplotlib cache once. */
  async seed(container: Dockerode.Container): Promise<void> {
    await this.sync.seed(container);
    const mpl = new WorkspaceSync(
      this.engine,
      this.mplConfigDir,
      this.owner,
      0,
      undefined,
      BOX_MPLCONFIG_DIR,
    );
    await mpl.seed(container);
  }

  /** A request that runs code goes through the sync; others go straight to the channel. */
  request(
    req: AgentRequest,
    send: (req: AgentRequest) => { id: string; done: Promise<AgentFinal> },
    interrupt: (target: string) => void,
  ) {
    return WorkspaceSync.runsCode(req) ? this.sync.around(req, send, interrupt) : send(req);
  }

  /** The box is gone: its volumes go too (retried while the engine still removes the container). */
  async remove(): Promise<void> {
    await removeBoxVolumes(this.engine, this.volumes);
  }
}
