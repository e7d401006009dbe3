// The private Docker engine behind a test sshd on loopback (scripts/test-docker-ssh.sh): its ssh:// address, the
// ssh-agent holding the only key it takes, and a HOME whose ~/.ssh/known_hosts names the sshd's host key.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/test-docker-ssh.sh');

export interface SshEngine {
  /** ssh://root@127.0.0.1:<port> */
  host: string;
  /** The ssh-agent's socket (SSH_AUTH_SOCK). */
  agent: string;
  /** A known_hosts file with the sshd's host key. */
  knownHosts: string;
  /** The private file of the one key the sshd takes (no passphrase). */
  identityFile: string;
  port: number;
  /** The sshd's log (LogLevel VERBOSE: a line per login). */
  log: string;
}

/** Starts (or finds) the sshd and its agent; the reason to skip when none can run here (exit status 3). */
export function startSshEngine(): SshEngine | { skip: string } {
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', timeout: 25 * 60_000 });
  if (r.status === 3) return { skip: r.stderr.trim() };
  if (r.status !== 0) throw new Error(`the ssh engine did not start (${r.status}): ${r.stderr.slice(-2000)}`);
  const vars = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const host = vars.DOCKER_HOST!;
  return {
    host,
    agent: vars.SSH_AUTH_SOCK!,
    knownHosts: vars.KNOWN_HOSTS!,
    identityFile: vars.IDENTITY_FILE!,
    port: Number(new URL(host).port),
    log: join(vars.KNOWN_HOSTS!, '..', 'sshd.log'),
  };
}

/** A fresh HOME for a server; with `knownHosts`, its ~/.ssh/known_hosts is that text, or a copy of that file. */
export function homeWith(knownHosts?: { file: string } | { text: string }): string {
  const home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-ssh-home-'));
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  if (knownHosts && 'file' in knownHosts) copyFileSync(knownHosts.file, join(home, '.ssh', 'known_hosts'));
  if (knownHosts && 'text' in knownHosts)
    writeFileSync(join(home, '.ssh', 'known_hosts'), knownHosts.text, { mode: 0o600 });
  return home;
}

/** How many logins the sshd has taken so far. */
export function logins(engine: SshEngine): number {
  return readFileSync(engine.log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Accepted publickey for ')).length;
}

/** The sshd's host key line, as `ssh-keyscan` would print it. */
export function knownLine(engine: SshEngine): string {
  return readFileSync(engine.knownHosts, 'utf8').trim();
}
