// The sockets of a Docker box whose workspace is a volume, without bind mounts: web apps' sockets reached from the
// host by an exec per connection (tunnel-app.ts), and the allowlist proxy's socket served in the box by one long-lived
// exec that carries the box's connections to the host proxy (tunnel-mux.ts). Only the Engine API crosses.
import type { Duplex } from 'node:stream';
import type { BoxOptions } from '../box.js';
import { SandboxError } from '../../errors.js';
import { AppTunnelSocket } from './tunnel-app.js';
import { DockerDemux, openExec, type ExecTarget } from './tunnel-exec.js';
import { MuxEnd } from './tunnel-mux.js';

/** Where the agent makes web apps' sockets in such a box (its /tmp: the root is read-only). */
export const TUNNEL_SOCKET_DIR = '/tmp/.sandbox-sockets';
/** Where the box's network relay finds the allowlist proxy in such a box. */
export const TUNNEL_PROXY_SOCKET = '/tmp/.sandbox-net/proxy.sock';
const READY_TIMEOUT_MS = 15_000;
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 10_000;
/** A tunnel that ran this long before it ended is restarted at once. */
const HEALTHY_MS = 10_000;

type Log = ((msg: string, extra: Record<string, unknown>) => void) | undefined;

export interface TunnelPlan {
  /** The options with the socket binds taken out and the environment pointing at the in-box paths. */
  opts: BoxOptions;
  /** The host socket the box's proxy connections go to, when the box has one. */
  proxy: string | null;
  apps: boolean;
}

/**
 * Finds the socket binds a box was given (the proxy socket its SANDBOX_NET_PROXY_SOCKET names, the app socket folder
 * its SANDBOX_SOCKET_DIR names) and replaces them by tunnels.
 */
export function planTunnels(opts: BoxOptions): TunnelPlan {
  const env = { ...(opts.env ?? {}) };
  const proxyBind = (opts.extraRoBinds ?? []).find((b) => b.box === env.SANDBOX_NET_PROXY_SOCKET);
  const appBind = (opts.extraRwBinds ?? []).find((b) => b.box === env.SANDBOX_SOCKET_DIR);
  if (proxyBind) env.SANDBOX_NET_PROXY_SOCKET = TUNNEL_PROXY_SOCKET;
  if (appBind) env.SANDBOX_SOCKET_DIR = TUNNEL_SOCKET_DIR;
  return {
    opts: {
      ...opts,
      env,
      ...(opts.extraRoBinds ? { extraRoBinds: opts.extraRoBinds.filter((b) => b !== proxyBind) } : {}),
      ...(opts.extraRwBinds ? { extraRwBinds: opts.extraRwBinds.filter((b) => b !== appBind) } : {}),
    },
    proxy: proxyBind?.host ?? null,
    apps: appBind !== undefined,
  };
}

export class BoxTunnels {
  private mux: { end: MuxEnd; raw: Duplex } | null = null;
  private closed = false;
  private restartMs = RESTART_MIN_MS;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly target: ExecTarget,
    private readonly proxy: string | null,
    private readonly apps: boolean,
    private readonly alive: () => boolean,
    private readonly log: Log,
  ) {}

  /** The box's tunnels, which the box holds and closes; with a proxy, resolves once the box listens on its socket. */
  static async start(
    target: ExecTarget,
    plan: TunnelPlan,
    alive: () => boolean,
    log: Log,
  ): Promise<BoxTunnels> {
    const tunnels = new BoxTunnels(target, plan.proxy, plan.apps, alive, log);
    if (plan.proxy) {
      try {
        await tunnels.startMux();
      } catch (err) {
        // nobody holds these tunnels to close them later: no restart may outlive this failed start
        tunnels.close();
        throw err;
      }
    }
    return tunnels;
  }

  /** How the host connects to one of the box's web apps through the engine (null: the box's apps have no tunnel). */
  appConnector(appId: string): (() => Duplex) | null {
    if (!this.apps || !/^[A-Za-z0-9_-]{1,64}$/.test(appId)) return null;
    return () => new AppTunnelSocket(this.target, `${TUNNEL_SOCKET_DIR}/${appId}.sock`);
  }

  /**
   * Opens the tunnel's exec and resolves once the box listens. The deadline covers the exec's opening too (a stuck
   * engine must not stall the box start); a tunnel closed meanwhile is dropped as soon as its exec opens.
   */
  private async startMux(): Promise<void> {
    const proxy = this.proxy!;
    const began = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new SandboxError('internal', 'the proxy tunnel into the box did not start in time')),
        READY_TIMEOUT_MS,
      );
    });
    late.catch(() => undefined);
    const opening = openExec(this.target, 'tunnel_mux.py', [TUNNEL_PROXY_SOCKET]);
    let raw: Duplex;
    try {
      raw = await Promise.race([opening, late]);
    } catch (err) {
      clearTimeout(timer);
      opening.then(
        (r) => r.destroy(),
        () => undefined,
      );
      throw err;
    }
    if (this.closed) {
      clearTimeout(timer);
      raw.destroy();
      throw new SandboxError('internal', 'the proxy tunnel was closed while it started');
    }
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      late.catch((err: Error) => settle(err));
      const end = new MuxEnd(
        proxy,
        (frame) => {
          raw.write(frame);
          return raw.writableLength;
        },
        () => settle(null),
        (violation) => {
          raw.destroy();
          if (violation) this.log?.('the box broke its proxy tunnel', { violation });
          settle(
            new SandboxError(
              'internal',
              `the proxy tunnel into the box ended: ${violation ?? 'its exec ended'}`,
            ),
          );
          if (this.mux?.end === end) this.mux = null;
          this.restartLater(Date.now() - began);
        },
      );
      const demux = new DockerDemux((chunk) => end.push(chunk));
      raw.on('data', (chunk: Buffer) => demux.push(chunk));
      raw.on('close', () => {
        end.close();
        settle(
          new SandboxError('internal', 'the proxy tunnel into the box ended before it listened', {
            stderr: demux.stderr,
          }),
        );
      });
      this.mux = { end, raw };
    }).catch((err: unknown) => {
      raw.destroy();
      throw err;
    });
  }

  /** The tunnel ended while the box lives (code in the box killed or broke it): it is started again, backing off. */
  private restartLater(ranMs: number): void {
    if (this.closed || !this.alive() || this.timer) return;
    this.restartMs = ranMs >= HEALTHY_MS ? RESTART_MIN_MS : Math.min(this.restartMs * 2, RESTART_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed || !this.alive()) return;
      this.startMux().catch((err: unknown) => {
        if (this.closed) return;
        this.log?.('the proxy tunnel could not be started again', { err: String(err) });
        this.restartLater(0);
      });
    }, this.restartMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.mux?.end.close();
    this.mux?.raw.destroy();
    this.mux = null;
  }
}
