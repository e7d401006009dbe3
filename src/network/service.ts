// The network service: each session's policy (none / allowlist / full), the allowlist proxies behind the boxes,
// and the record of denied attempts. It never opens the host network to a box unless the server allowed `full`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { BoxOptions } from '../sandbox/box.js';
import type { SessionOptions, SessionService } from '../sessions/service.js';
import type { Db } from '../store/db.js';
import { NetworkRepo } from '../store/network-repo.js';
import { wireProxy } from './box-wiring.js';
import { parseDomainRules, type DomainRule } from './domains.js';
import {
  checkServerNetworkConfig,
  describeNetwork,
  resolveSessionNetwork,
  type NetworkDescription,
  type ServerNetworkPolicy,
} from './policy.js';
import { AllowlistProxy, type ProxyDenial } from './proxy.js';

export type NetLog = (level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>) => void;

/** A proxy opened for one job (a package install) rather than a session. */
export interface EphemeralProxy {
  socketPath: string;
  denials: ProxyDenial[];
  close(): Promise<void>;
}

const KEEP_DENIALS = 50;

export class NetworkService {
  private readonly server: ServerNetworkPolicy;
  private readonly repo: NetworkRepo;
  private readonly proxies = new Map<string, AllowlistProxy>();
  private readonly rules = new Map<string, DomainRule[]>();
  private readonly denials = new Map<string, ProxyDenial[]>();
  private socketDir: string | null = null;
  private ephemeralCount = 0;
  private deniedHook: ((sessionId: string, d: ProxyDenial) => void) | undefined;

  constructor(
    private readonly config: Config,
    db: Db,
    private readonly sessions: SessionService,
    private readonly log: NetLog = () => {},
  ) {
    this.server = checkServerNetworkConfig(config);
    this.repo = new NetworkRepo(db);
    sessions.setNetworkPolicy((req) => this.decide(req));
    sessions.addBoxCustomizer((box, opts) => this.customize(box.sessionId, box.network, opts));
    sessions.events.on('closed', (id) => void this.forget(id));
  }

  /** What the session (whose stored mode is `mode`) can reach, with its allowlist and its last denials. */
  describe(sessionId: string, mode: string): NetworkDescription {
    return describeNetwork({
      mode,
      isolated: this.config.isolation === 'bwrap',
      fullAllowed: this.config.allowFullNetwork,
      rules: mode === 'allowlist' ? this.rulesFor(sessionId) : [],
      denials: this.denials.get(sessionId) ?? [],
    });
  }

  /** Opens a proxy limited to `rules` for one job; its denials are returned to the caller, not to a session. */
  openEphemeral(rules: readonly DomainRule[], label: string): EphemeralProxy {
    const socketPath = join(this.dir(), `job-${++this.ephemeralCount}.sock`);
    const denials: ProxyDenial[] = [];
    const proxy = AllowlistProxy.start(
      {
        socketPath,
        rules,
        onDenied: (d) => {
          if (denials.length < KEEP_DENIALS) denials.push(d);
          this.log('warn', 'network_denied', { job: label, host: d.host, port: d.port, reason: d.reason });
        },
      },
      (err) => this.log('warn', 'job proxy failed', { job: label, err: String(err) }),
    );
    return { socketPath, denials, close: () => proxy.close() };
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.socketDir = null;
  }

  private decide(req: SessionOptions): { mode: string; record: (id: string) => void } {
    const net = resolveSessionNetwork(this.server, req);
    return {
      mode: net.mode,
      record: (id) => {
        if (net.mode === 'full') this.log('warn', 'session created with full network', { session: id });
        if (net.mode !== 'allowlist') return;
        this.repo.setRules(
          id,
          net.rules.map((r) => r.text),
        );
        this.rules.set(id, net.rules);
      },
    };
  }

  private rulesFor(sessionId: string): DomainRule[] {
    let rules = this.rules.get(sessionId);
    if (!rules) {
      // A session from before a restart: its rules are in the database.
      rules = parseDomainRules(this.repo.rules(sessionId));
      this.rules.set(sessionId, rules);
    }
    return rules;
  }

  private customize(sessionId: string, mode: string, opts: BoxOptions): void {
    if (mode === 'full') {
      if (!this.config.allowFullNetwork) {
        // The server restarted without --allow-full-network: the session keeps running, without network.
        this.sessions.addNotice(
          sessionId,
          "network 'full' is no longer allowed by the server's configuration; this session now has no network",
        );
        this.log('warn', 'full network refused after restart', { session: sessionId });
        return;
      }
      opts.network = 'host';
      this.log('info', 'box started with full network', { session: sessionId });
      return;
    }
    if (mode !== 'allowlist' || this.config.isolation !== 'bwrap') return;
    wireProxy(opts, this.proxyFor(sessionId).socketPath);
  }

  private proxyFor(sessionId: string): AllowlistProxy {
    let proxy = this.proxies.get(sessionId);
    if (proxy) return proxy;
    proxy = AllowlistProxy.start(
      {
        socketPath: join(this.dir(), `${sessionId}.sock`),
        rules: this.rulesFor(sessionId),
        onDenied: (d) => this.recordDenial(sessionId, d),
      },
      (err) => this.log('warn', 'session proxy failed', { session: sessionId, err: String(err) }),
    );
    this.proxies.set(sessionId, proxy);
    return proxy;
  }

  /** Also tells `hook` of every refusal a session's proxy makes (the audit log). */
  onDenial(hook: (sessionId: string, d: ProxyDenial) => void): void {
    this.deniedHook = hook;
  }

  private recordDenial(sessionId: string, d: ProxyDenial): void {
    this.deniedHook?.(sessionId, d);
    const list = this.denials.get(sessionId) ?? [];
    list.push(d);
    if (list.length > KEEP_DENIALS) list.shift();
    this.denials.set(sessionId, list);
    this.log('warn', 'network_denied', { session: sessionId, host: d.host, port: d.port, reason: d.reason });
    this.sessions.addNotice(
      sessionId,
      `network_denied: ${d.method} ${d.host}:${d.port} refused: ${d.reason}`,
    );
  }

  private async forget(sessionId: string): Promise<void> {
    this.rules.delete(sessionId);
    this.denials.delete(sessionId);
    const proxy = this.proxies.get(sessionId);
    this.proxies.delete(sessionId);
    await proxy?.close();
  }

  /** A private directory for the sockets; short, because a Unix socket path must fit in 108 bytes. */
  private dir(): string {
    if (!this.socketDir) {
      this.socketDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-net-'));
      const dir = this.socketDir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    return this.socketDir;
  }
}
