// dockerode's options for an ssh:// engine (`docker system dial-stdio` on the host through ssh2, ssh-dial.ts): the SSH
// agent, the user, the host key checked against known_hosts, and the cause of a failed connection in words.
import { userInfo } from 'node:os';
import type Dockerode from 'dockerode';
import type { ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { SshDialAgent } from './ssh-dial.js';
import { hostKeyCheck, type HostKeyCheck } from './ssh-known-hosts.js';

export interface SshEngine {
  options: Dockerode.DockerOptions;
  check: HostKeyCheck;
  user: string;
  agent: string | undefined;
}

const READY_MS = 20_000;

/** The options for `ssh://[user@]host[:port]`; throws, naming what is missing, when it cannot work at all. */
export function sshEngine(host: string, env: NodeJS.ProcessEnv = process.env): SshEngine {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new Error(`DOCKER_HOST ${host} is not an ssh://[user@]host[:port] address`);
  }
  const agent = env.SSH_AUTH_SOCK || undefined;
  if (!agent)
    throw new Error(
      'an ssh:// engine needs an SSH agent holding the key (SSH_AUTH_SOCK is not set): start ssh-agent and ssh-add the key',
    );
  const user = decodeURIComponent(url.username) || userInfo().username;
  const port = Number(url.port || 22);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const check = hostKeyCheck(hostname, port);
  const ssh: ConnectConfig = {
    host: hostname,
    port,
    username: user,
    agent,
    hostVerifier: check.verify,
    readyTimeout: READY_MS,
  };
  if (check.algorithms) ssh.algorithms = { serverHostKey: check.algorithms as ServerHostKeyAlgorithm[] };
  // plain HTTP over the agent's channels; the host and port only name the requests
  const options = {
    protocol: 'http',
    host: hostname,
    port,
    agent: new SshDialAgent(ssh),
  } as Dockerode.DockerOptions; // docker-modem takes `agent` (an http.Agent); its typings leave it out
  return { options, check, user, agent };
}

/** The cause of a failed ssh connection as the client should read it. */
export function sshFailure(err: unknown, ssh: SshEngine, host: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const hostKey = ssh.check.problem();
  if (hostKey) return `ssh host key refused: ${hostKey}`;
  if (/All configured authentication methods failed/i.test(message))
    return `the ssh server of ${host} refused every key the SSH agent at ${ssh.agent} offered for user ${ssh.user}`;
  if (/ENOENT|ECONNREFUSED/.test(message) && message.includes(ssh.agent ?? '\0'))
    return `the SSH agent at ${ssh.agent} (SSH_AUTH_SOCK) does not answer: ${message}`;
  if (/socket hang up/i.test(message))
    return `the ssh connection closed before the engine answered (is the docker CLI installed on the remote host for \`docker system dial-stdio\`?): ${message}`;
  return `ssh: ${message}`;
}
