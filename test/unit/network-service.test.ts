// Unit tests for the network service behind a stand-in session service: the default allowlist, the session
// description and the denials its proxy records. Every request goes to the proxy's Unix socket and is refused there.
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { RELAY_URL } from '../../src/network/box-wiring.js';
import { NetworkService } from '../../src/network/service.js';
import type { BoxOptions } from '../../src/sandbox/box.js';
import type {
  BoxCustomizer,
  NetworkPolicyHook,
  SessionEvents,
  SessionOptions,
  SessionService,
} from '../../src/sessions/service.js';
import { openDb, type Db } from '../../src/store/db.js';
import { SessionsRepo } from '../../src/store/sessions-repo.js';

/** The few hooks of SessionService the network service uses. */
class FakeSessions {
  policy: NetworkPolicyHook | undefined;
  readonly customizers: BoxCustomizer[] = [];
  readonly notices: string[] = [];
  readonly events = new EventEmitter<SessionEvents>();
  setNetworkPolicy(hook: NetworkPolicyHook): void {
    this.policy = hook;
  }
  addBoxCustomizer(fn: BoxCustomizer): void {
    this.customizers.push(fn);
  }
  addNotice(_sessionId: string, notice: string): void {
    this.notices.push(notice);
  }
}

let dir: string;
let db: Db;
let sessions: FakeSessions;
const services: NetworkService[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'net-service-'));
  db = openDb(join(dir, 'test.db'));
  sessions = new FakeSessions();
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.shutdown()));
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(flags: Partial<Record<keyof Config, unknown>> = {}): NetworkService {
  const config = loadConfig({ dataDir: dir, ...flags }, {});
  const svc = new NetworkService(config, db, sessions as unknown as SessionService);
  services.push(svc);
  return svc;
}

/** Creates a session the way SessionService does: decide, store the row, then record. */
function create(id: string, req: SessionOptions = {}): string {
  const decision = sessions.policy!(req);
  new SessionsRepo(db).insert({
    id,
    owner: 'o',
    name: null,
    is_default: 0,
    created_at: '2025-01-01T00:00:00.000Z',
    last_used_at: '2025-01-01T00:00:00.000Z',
    timeout_s: 60,
    memory_mb: 1024,
    pids: 256,
    network: decision.mode,
  });
  decision.record?.(id);
  return decision.mode;
}

/** Starts the session's box as far as the network goes; returns the host socket of its proxy, if any. */
function boxStart(id: string, mode: string): string | undefined {
  const opts = {} as BoxOptions;
  for (const fn of sessions.customizers) fn({ sessionId: id, workspace: join(dir, id), network: mode }, opts);
  return opts.extraRoBinds?.[0]?.host;
}

function get(socketPath: string, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path: url }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('NetworkService', () => {
  it("gives a session without allowed_domains the server's default allowlist", () => {
    const svc = start({ networkDefault: 'allowlist', networkAllowlist: 'Allowed.localhost *.example.com' });
    expect(create('s_a')).toBe('allowlist');
    expect(svc.describe('s_a', 'allowlist')).toMatchObject({
      mode: 'allowlist',
      enforced: true,
      allowed_domains: ['*.example.com', 'allowed.localhost'],
      proxy: RELAY_URL,
      recent_denials: [],
    });
    expect(create('s_b', { allowed_domains: ['pypi.org'] })).toBe('allowlist');
    expect(svc.describe('s_b', 'allowlist').allowed_domains).toEqual(['pypi.org']);
  });

  it('refuses a bad default allowlist when it starts', () => {
    expect(() => start({ networkDefault: 'allowlist' })).toThrow(/--network-allowlist/);
    expect(() => start({ networkAllowlist: '*.com' })).toThrow(/top-level/);
  });

  it("reports the denials of the session's proxy, the last 50, and forgets them when the session closes", async () => {
    const svc = start();
    const mode = create('s_a', { network: 'allowlist', allowed_domains: ['allowed.localhost'] });
    const socket = boxStart('s_a', mode);
    expect(socket).toBeDefined();

    expect(await get(socket!, 'http://other.localhost:8080/first')).toBe(403);
    const [first] = svc.describe('s_a', mode).recent_denials;
    expect(first).toMatchObject({
      method: 'GET',
      host: 'other.localhost',
      port: 8080,
      reason: "'other.localhost' is not in this session's allowlist (allowed.localhost)",
      rule: null,
    });
    expect(sessions.notices).toEqual([
      "network_denied: GET other.localhost:8080 refused: 'other.localhost' is not in this session's allowlist (allowed.localhost)",
    ]);

    for (let i = 1; i <= 50; i++) expect(await get(socket!, `http://host${i}.localhost:81/`)).toBe(403);
    const denials = svc.describe('s_a', mode).recent_denials;
    expect(denials).toHaveLength(50);
    expect(denials[0]?.host).toBe('host1.localhost');
    expect(denials.at(-1)?.host).toBe('host50.localhost');

    sessions.events.emit('closed', 's_a');
    expect(svc.describe('s_a', mode).recent_denials).toEqual([]);
  });

  it('keeps denials per session', async () => {
    const svc = start();
    const a = create('s_a', { allowed_domains: ['a.localhost'] });
    const b = create('s_b', { allowed_domains: ['b.localhost'] });
    expect(await get(boxStart('s_a', a)!, 'http://b.localhost/')).toBe(403);
    expect(boxStart('s_b', b)).toBeDefined();
    expect(svc.describe('s_a', a).recent_denials.map((d) => d.host)).toEqual(['b.localhost']);
    expect(svc.describe('s_b', b).recent_denials).toEqual([]);
  });

  it("reads a session's allowlist from the database after a restart", () => {
    start();
    create('s_a', { allowed_domains: ['kept.localhost'] });
    const restarted = start();
    expect(restarted.describe('s_a', 'allowlist').allowed_domains).toEqual(['kept.localhost']);
  });

  it('describes sessions without a proxy when isolation is off, and says nothing is enforced', () => {
    const svc = start({ isolation: 'none' });
    const mode = create('s_a', { allowed_domains: ['pypi.org'] });
    expect(boxStart('s_a', mode)).toBeUndefined();
    const d = svc.describe('s_a', mode);
    expect(d).toMatchObject({
      mode: 'allowlist',
      enforced: false,
      proxy: null,
      allowed_domains: ['pypi.org'],
    });
    expect(d.summary).toMatch(/NOT enforced/);
  });
});
