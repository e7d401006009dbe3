// dockerode's options for an ssh:// engine (`docker system dial-stdio` on the host through ssh2, ssh-dial.ts): the
// address as ~/.ssh/config makes it (ssh-config.ts), the keys (ssh-identities.ts), the host key checked against
// known_hosts, and the cause of a failed connection in words.
import { homedir } from 'node:os';
import type Dockerode from 'dockerode';
import type { ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { resolveSshTarget, type SshTarget } from './ssh-config.js';
import { SshDialAgent } from './ssh-dial.js';
import { identities, type Identities } from './ssh-identities.js';
import { hostKeyCheck, type HostKeyCheck } from './ssh-known-hosts.js';

export interface SshEngine {
  options: Dockerode.DockerOptions;
  check: HostKeyCheck;
  user: string;
  agent: string | undefined;
  target: SshTarget;
  keys: Identities;
}

const READY_MS = 20_000;

/** Where a connection goes, for messages: the alias and what it stands for when they differ. */
function shown(t: SshTarget): string {
  const at = `${t.hostname}:${t.port}`;
  return t.alias === t.hostname ? at : `${t.alias} (${at})`;
}

/** The options for `ssh://[user@]host[:port]`; throws, naming what is missing, when it cannot work at all. */
export function sshEngine(host: string, env: NodeJS.ProcessEnv = process.env): SshEngine {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new Error(`DOCKER_HOST ${host} is not an ssh://[user@]host[:port] address`);
  }
  const target = resolveSshTarget(url, env, env.HOME || homedir());
  const { agent, user } = target;
  const keys = identities({
    user,
    agent,
    files: target.identityFiles,
    identitiesOnly: target.identitiesOnly,
  });
  if (!agent && !keys.files.some((f) => f.key)) {
    const locked = keys.files.find((f) => f.encrypted);
    const why = env.SSH_AUTH_SOCK ? 'IdentityAgent none in the ssh config' : 'SSH_AUTH_SOCK is not set';
    if (locked)
      throw new Error(
        `the key file ${locked.path} is encrypted and no SSH agent holds it (${why}): add it to ssh-agent (\`ssh-add ${locked.path}\`) and start the server with SSH_AUTH_SOCK set; the server never asks for a passphrase`,
      );
    throw new Error(
      `an ssh:// engine needs an SSH agent holding the key (SSH_AUTH_SOCK is not set) or a key file that needs no passphrase (IdentityFile in ~/.ssh/config, or ~/.ssh/id_ed25519…; none found): start ssh-agent and ssh-add the key`,
    );
  }
  const check = hostKeyCheck(target.hostname, target.port, target.knownHostsFiles, target.knownHostsName);
  const ssh = (): ConnectConfig => {
    const c: ConnectConfig = {
      host: target.hostname,
      port: target.port,
      username: user,
      authHandler: keys.authHandler(),
      hostVerifier: check.verify,
      readyTimeout: READY_MS,
    };
    if (check.algorithms) c.algorithms = { serverHostKey: check.algorithms as ServerHostKeyAlgorithm[] };
    return c;
  };
  // plain HTTP over the agent's channels; the host and port only name the requests
  const options = {
    protocol: 'http',
    host: target.hostname,
    port: target.port,
    agent: new SshDialAgent(ssh),
  } as Dockerode.DockerOptions; // docker-modem takes `agent` (an http.Agent); its typings leave it out
  return { options, check, user, agent, target, keys };
}

/** Who offered keys on a refused login: the agent (when it answered) and the key files that need no passphrase. */
function offered(ssh: SshEngine): string {
  const parts: string[] = [];
  if (ssh.agent && !ssh.keys.agentError)
    parts.push(
      `the SSH agent at ${ssh.agent}${ssh.target.identitiesOnly ? ' (its IdentityFile keys only: IdentitiesOnly)' : ''}`,
    );
  const files = ssh.keys.files.filter((f) => f.key).map((f) => f.path);
  if (files.length) parts.push(`the key file${files.length > 1 ? 's' : ''} ${files.join(', ')}`);
  return parts.join(' and ');
}

/** The cause of a failed ssh connection as the client should read it. */
export function sshFailure(err: unknown, ssh: SshEngine, host: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const hostKey = ssh.check.problem();
  if (hostKey)
    return (
      `ssh host key refused: ${hostKey}` +
      (ssh.target.lenientHostKeys
        ? `; the server requires a known host key and does not follow ${ssh.target.lenientHostKeys}`
        : '')
    );
  if (/All configured authentication methods failed/i.test(message)) {
    const who = offered(ssh);
    const agentDown = ssh.keys.agentError
      ? `the SSH agent at ${ssh.agent} (SSH_AUTH_SOCK) does not answer: ${ssh.keys.agentError}`
      : '';
    if (!who && agentDown) return agentDown;
    const held = ssh.keys.agentKeys;
    const locked = ssh.keys.files
      .filter((f) => f.encrypted && !(f.publicBlob && held.some((b) => b.equals(f.publicBlob!))))
      .map(
        (f) =>
          `; the key file ${f.path} is encrypted and the SSH agent does not hold it: add it to ssh-agent (\`ssh-add ${f.path}\`)`,
      );
    return (
      `the ssh server of ${host} (${shown(ssh.target)}) refused every key ${who || 'nothing (no key)'} offered for user ${ssh.user}` +
      (agentDown ? `; ${agentDown}` : '') +
      locked.join('')
    );
  }
  if (/ENOENT|ECONNREFUSED/.test(message) && message.includes(ssh.agent ?? '\0'))
    return `the SSH agent at ${ssh.agent} (SSH_AUTH_SOCK) does not answer: ${message}`;
  if (/socket hang up/i.test(message))
    return `the ssh connection closed before the engine answered (is the docker CLI installed on the remote host for \`docker system dial-stdio\`?): ${message}`;
  return `ssh to ${shown(ssh.target)}: ${message}`;
}
