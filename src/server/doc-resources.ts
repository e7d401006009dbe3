// The server's self-description as resources: sandbox://server/overview (markdown) and
// sandbox://catalog/interfaces (JSON), generated from the registry and the live configuration.
import type { McpServer } from '@modelcontextprotocol/server';
import { hostCgroupSupport } from '../sandbox/limit-stand-ins.js';
import { seccompSupported } from '../sandbox/seccomp.js';
import { buildCatalog, buildOverview, CATALOG_URI, OVERVIEW_URI, type LiveFacts } from './catalog.js';
import type { Services } from './services.js';

let facts: LiveFacts | undefined;
let overviewText: string | undefined;
let catalogText: string | undefined;

/** Probed once per process: what this machine enforces does not change while the server runs. */
export function liveFacts(services: Services): LiveFacts {
  if (facts) return facts;
  const cfg = services.config;
  const bwrap = cfg.isolation === 'bwrap' && !services.sessions.isolationMissing();
  const cg = hostCgroupSupport();
  const sc = seccompSupported();
  facts = {
    isolation:
      cfg.isolation === 'none'
        ? 'NONE (--isolation none): code runs unsandboxed'
        : bwrap
          ? 'bubblewrap: user, pid, mount, ipc, uts and network namespaces; minimal read-only root; uid 1000'
          : 'unavailable: bubblewrap is missing, so code is refused (isolation_unavailable)',
    memory: cg.memory ? `cgroup v${cg.version}` : `not enforced: ${cg.reason ?? 'no usable cgroup'}`,
    pids: cg.pids ? `cgroup v${cg.version}` : `not enforced: ${cg.reason ?? 'no usable cgroup'}`,
    seccomp: sc.ok ? `on (${sc.arch} denylist)` : `off: ${sc.reason ?? 'unsupported'}`,
    network: bwrap ? 'none by default (own network namespace, loopback only)' : 'host network',
  };
  return facts;
}

export function registerDocResources(
  server: McpServer,
  services: Services,
  info: { name: string; version: string },
): void {
  server.registerResource(
    'server-overview',
    OVERVIEW_URI,
    {
      title: 'Server overview',
      description: 'What this server is, isolation and limits in force, tools by domain.',
      mimeType: 'text/markdown',
    },
    (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'text/markdown',
          // Settings and machine facts do not change while the server runs: built once.
          text: (overviewText ??= buildOverview(services.config, info, liveFacts(services))),
        },
      ],
    }),
  );
  server.registerResource(
    'interface-catalog',
    CATALOG_URI,
    {
      title: 'Interface catalog',
      description: 'Tools, prompts and resources with their schemas.',
      mimeType: 'application/json',
    },
    (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: (catalogText ??= JSON.stringify(buildCatalog(services.config, info), null, 2)),
        },
      ],
    }),
  );
}
