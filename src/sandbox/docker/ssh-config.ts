// What an ssh:// Docker engine's address means once ~/.ssh/config and /etc/ssh/ssh_config are applied, as OpenSSH
// applies them: HostName, User, Port, IdentityFile, IdentitiesOnly, IdentityAgent, the known_hosts files and the name
// the host key is filed under; ProxyJump and ProxyCommand refused rather than bypassed.
import { hostname as localHostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { originOf, readSshConfig, SshConfigError, type ConfigFile } from './ssh-config-read.js';
import { knownHostsName } from './ssh-known-hosts.js';

export { SshConfigError, type ConfigFile };

export interface SshTarget {
  /** The host as the URL gives it (what `Host` patterns match). */
  alias: string;
  /** Where to connect (HostName, else the alias). */
  hostname: string;
  port: number;
  user: string;
  /** Key files to offer, in order (IdentityFile, else OpenSSH's default names). */
  identityFiles: string[];
  /** Only keys of `identityFiles` are offered, the agent's included. */
  identitiesOnly: boolean;
  /** The SSH agent's socket (IdentityAgent, else SSH_AUTH_SOCK); undefined: none. */
  agent: string | undefined;
  /** The known_hosts files to check the host key against (UserKnownHostsFile, then GlobalKnownHostsFile). */
  knownHostsFiles: string[];
  /** The name the host key is looked up under: HostKeyAlias, else the HostName with a port other than 22. */
  knownHostsName: string;
  /** StrictHostKeyChecking when the config turns it off, and where: the check is made all the same. */
  lenientHostKeys: string | null;
  /** The configuration files read. */
  configFiles: string[];
}

/** The keys OpenSSH 9 tries when no IdentityFile is given, in its order. */
const DEFAULT_IDENTITIES = [
  'id_rsa',
  'id_ecdsa',
  'id_ecdsa_sk',
  'id_ed25519',
  'id_ed25519_sk',
  'id_xmss',
  'id_dsa',
];

/** The user's and the system's config files, as ssh reads them without -F. */
export function sshConfigFiles(home: string): ConfigFile[] {
  return [
    { path: join(home, '.ssh', 'config'), includeBase: join(home, '.ssh') },
    { path: '/etc/ssh/ssh_config', includeBase: '/etc/ssh' },
  ];
}

type Computed = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** OpenSSH's `%` tokens and `~` and `${VAR}` in a path-like value; an unknown token is refused with the directive. */
function expand(
  directive: string,
  value: string,
  tokens: Record<string, string>,
  home: string,
  env: NodeJS.ProcessEnv,
): string {
  let out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined)
      throw new SshConfigError(`${directive} ${value}: the environment variable ${name} is not set`);
    return v;
  });
  out = out.replace(/%(.)/g, (_, t: string) => {
    const v = tokens[t];
    if (v === undefined)
      throw new SshConfigError(`${directive} ${value}: the token %${t} is not supported here`);
    return v;
  });
  if (out === '~') return home;
  if (out.startsWith('~/')) return join(home, out.slice(2));
  if (out.startsWith('~')) throw new SshConfigError(`${directive} ${value}: ~user paths are not supported`);
  return out;
}

function yes(v: string | undefined): boolean {
  return v !== undefined && /^(yes|true)$/i.test(v);
}

/**
 * The connection `ssh://[user@]host[:port]` stands for: the URL's user and port win over the config's, as ssh's
 * command line does; throws SshConfigError naming the file and line (or the directive) when it cannot be followed.
 */
export function resolveSshTarget(
  url: URL,
  env: NodeJS.ProcessEnv,
  home: string,
  configFiles: ConfigFile[] = sshConfigFiles(home),
): SshTarget {
  // Host patterns match the name as given, case and all; the name connected to is lowercased (as ssh -G shows)
  const alias = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const urlUser = decodeURIComponent(url.username) || undefined;
  const read = readSshConfig(configFiles, alias, home);
  const c = read.config.compute(urlUser ? { Host: alias, User: urlUser } : { Host: alias }, {
    ignoreCase: true,
    matchExec: false, // a `Match exec` line never matches: the server runs no command from the config
  }) as Computed;
  const where = (param: string, value: string): string => {
    const at = originOf(read, param, value);
    return at ? ` (${at})` : '';
  };

  for (const directive of ['ProxyJump', 'ProxyCommand']) {
    const v = first(c[directive.toLowerCase()]);
    if (v !== undefined && v.toLowerCase() !== 'none')
      throw new SshConfigError(
        `${directive} ${v}${where(directive, v)} is set for ${alias}: connecting through a jump host or a proxy command is not supported, and the server does not connect directly instead; reach the engine without it (a Host entry without ${directive}, or DOCKER_HOST naming a host reachable directly)`,
      );
  }

  const local = (() => {
    try {
      return userInfo().username;
    } catch {
      return env.USER ?? '';
    }
  })();
  const user = urlUser ?? first(c.user) ?? local;
  const hostnameRaw = first(c.hostname);
  const hostname = (
    hostnameRaw ? expand('HostName', hostnameRaw, { '%': '%', h: alias }, home, env) : alias
  ).toLowerCase();

  let port = 22;
  const portText = url.port || first(c.port);
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
      throw new SshConfigError(`Port ${portText}${where('Port', portText)} is not a port number`);
  }

  const hostKeyAlias = first(c.hostkeyalias);
  const tokens: Record<string, string> = {
    '%': '%',
    d: home,
    h: hostname,
    i: String(process.getuid?.() ?? ''),
    k: hostKeyAlias ?? alias,
    L: localHostname().split('.')[0] ?? '',
    l: localHostname(),
    n: alias,
    p: String(port),
    r: user,
    u: local,
  };
  // a relative path stays relative (to the working folder), as with ssh
  const path = (directive: string, v: string) => expand(directive, v, tokens, home, env);

  const explicit = list(c.identityfile).filter((f) => f.toLowerCase() !== 'none');
  const identityFiles = (
    c.identityfile !== undefined ? explicit : DEFAULT_IDENTITIES.map((n) => join('~', '.ssh', n))
  ).map((f) => path('IdentityFile', f));

  const agentSetting = first(c.identityagent);
  let agent = env.SSH_AUTH_SOCK || undefined;
  if (agentSetting !== undefined) {
    if (agentSetting.toLowerCase() === 'none') agent = undefined;
    else if (agentSetting === 'SSH_AUTH_SOCK') agent = env.SSH_AUTH_SOCK || undefined;
    else if (agentSetting.startsWith('$')) agent = env[agentSetting.slice(1)] || undefined;
    else agent = path('IdentityAgent', agentSetting);
  }

  const files = (directive: string, v: string | string[] | undefined, defaults: string[]) => {
    const given = list(v);
    if (!given.length) return defaults;
    if (given.length === 1 && given[0]!.toLowerCase() === 'none') return [];
    return given.map((f) => path(directive, f));
  };
  const knownHostsFiles = [
    ...files('UserKnownHostsFile', c.userknownhostsfile, [
      join(home, '.ssh', 'known_hosts'),
      join(home, '.ssh', 'known_hosts2'),
    ]),
    ...files('GlobalKnownHostsFile', c.globalknownhostsfile, [
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ]),
  ];

  const strict = first(c.stricthostkeychecking);
  const lenientHostKeys =
    strict && /^(no|off|accept-new)$/i.test(strict)
      ? `StrictHostKeyChecking ${strict}${where('StrictHostKeyChecking', strict)}`
      : null;

  return {
    alias,
    hostname,
    port,
    user,
    identityFiles,
    identitiesOnly: yes(first(c.identitiesonly)),
    agent,
    knownHostsFiles,
    // OpenSSH files a host under the name it connects to (HostName), `[name]:port` off port 22, or under HostKeyAlias
    knownHostsName: hostKeyAlias ? hostKeyAlias.toLowerCase() : knownHostsName(hostname, port),
    lenientHostKeys,
    configFiles: read.files,
  };
}
