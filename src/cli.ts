#!/usr/bin/env node
// The sandbox-mcp command: stdio server (default), `serve` for Streamable HTTP, `doctor` for what this machine enforces.
import { Command, Option } from 'commander';
import { createApp } from './app.js';
import { defaultDataDir, loadConfig, withClientShare, type Config } from './config.js';
import { loadOrCreateToken, clientConfigSnippet } from './server/auth.js';
import { startHttp } from './server/http.js';
import { statusRoutes } from './server/status-page.js';
import { startStdio } from './server/stdio.js';
import { SERVER_VERSION } from './server/server.js';
import type { ToolProfile } from './server/tool-def.js';
import { doctorCommand, type DoctorFlags } from './sandbox/docker/doctor-command.js';
import { AGENT_DIR } from './sessions/service.js';
import { claimDataDir } from './sessions/ownership.js';
import { dataDirUsage, formatDataDirUsage } from './store/data-dir-usage.js';
import { createLogger } from './log.js';

interface CommonFlags {
  dataDir?: string;
  isolation?: string;
  dockerImage?: string;
  dockerBaseImage?: string;
  python?: string;
  timeout?: string;
  memoryMb?: string;
  pids?: string;
  maxSessions?: string;
  maxWebApps?: string;
  clientMemoryMb?: string;
  totalMemoryMb?: string;
  totalPids?: string;
  cpuQuota?: string;
  boxUid?: string;
  idleTtl?: string;
  sessionRetention?: string;
  poolSize?: string;
  preload?: string;
  maxBackups?: string;
  historyKeep?: string;
  historyDays?: string;
  outputsKeep?: string;
  outputsDays?: string;
  auditDays?: string;
  tools?: string;
  logLevel?: string;
  policyFile?: string;
  networkDefault?: string;
  networkAllowlist?: string;
  allowFullNetwork?: boolean;
  allowPackageUrls?: boolean;
}

function addCommon(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where sessions, the database and backups live (env SANDBOX_MCP_HOME)')
    .addOption(
      new Option(
        '--isolation <mode>',
        'auto (default: bwrap where it is, else a Docker engine), bwrap, docker, or none: run code unsandboxed',
      ).choices(['auto', 'bwrap', 'docker', 'none']),
    )
    .option(
      '--docker-image <image>',
      'Docker boxes: an image with python3 to use instead of building the shipped one',
    )
    .option(
      '--docker-base-image <image>',
      "Docker boxes: the shipped Dockerfile's base image (debian:bookworm-slim)",
    )
    .option('--python <path>', 'the Python interpreter used inside the sandbox (default /usr/bin/python3)')
    .option('--timeout <seconds>', 'wall-clock limit per call, default and ceiling (50)')
    .option('--memory-mb <mb>', 'memory limit per session, default and ceiling (1024)')
    .option('--pids <n>', 'process limit per session (256)')
    .option('--max-sessions <n>', 'open sessions per client (10)')
    .option('--max-web-apps <n>', 'running web apps per client (10)')
    .option('--client-memory-mb <mb>', "memory of one client's sessions together (total / clients)")
    .option('--total-memory-mb <mb>', "memory of all sessions together (3/4 of the host's)")
    .option('--total-pids <n>', "processes of all sessions together (half the host's pid limit)")
    .option(
      '--box-uid <uid[:gid]>',
      'as root: the unprivileged host uid boxes run as (default: user sandbox-mcp, else 64100)',
    )
    .option('--cpu-quota <cpus>', 'CPU time per session in CPUs, e.g. 1.5 (0: none; each has an equal share)')
    .option('--idle-ttl <seconds>', 'stop the processes of sessions idle this long; files are kept (3600)')
    .option('--session-retention <seconds>', 'close and delete sessions unused this long (30 days; 0: never)')
    .option('--pool-size <n>', 'ready sandboxes kept warm for new sessions (2)')
    .addOption(
      new Option(
        '--preload <set>',
        'what pooled sandboxes import ahead (scientific: numpy, pandas, matplotlib)',
      ).choices(['none', 'scientific']),
    )
    .option('--max-backups <n>', 'backups kept per session (10)')
    .option('--history-keep <n>', 'execution history rows kept per session, the newest (1000)')
    .option('--history-days <days>', 'execution history rows kept at most this long (30)')
    .option('--outputs-keep <n>', 'saved long outputs (.sandbox/outputs) kept per session, the newest (20)')
    .option('--outputs-days <days>', 'saved long outputs kept at most this long (7)')
    .option('--audit-days <days>', 'audit log rows kept this long (90)')
    .addOption(new Option('--tools <profile>', 'tool profile: core or full (full)').choices(['core', 'full']))
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent')
    .option('--policy-file <path>', 'JSON file of shell command deny rules (env SANDBOX_MCP_POLICY)')
    .addOption(
      new Option('--network-default <mode>', 'network of sessions that do not ask for one (none)').choices([
        'none',
        'allowlist',
        'full',
      ]),
    )
    .option('--network-allowlist <domains>', 'default allowlist: hosts and *.domains, comma-separated')
    .option('--allow-full-network', "let sessions ask for network 'full' (the host's network)")
    .option('--allow-package-urls', 'let install_package take URLs and workspace paths');
}

function configFrom(flags: CommonFlags & { host?: string; port?: string; token?: string }): Config {
  return loadConfig({
    dataDir: flags.dataDir,
    isolation: flags.isolation,
    dockerImage: flags.dockerImage,
    dockerBaseImage: flags.dockerBaseImage,
    python: flags.python,
    timeoutS: flags.timeout,
    memoryMb: flags.memoryMb,
    pids: flags.pids,
    maxSessions: flags.maxSessions,
    maxWebApps: flags.maxWebApps,
    clientMemoryMb: flags.clientMemoryMb,
    totalMemoryMb: flags.totalMemoryMb,
    totalPids: flags.totalPids,
    cpuQuota: flags.cpuQuota,
    boxUid: flags.boxUid,
    idleTtlS: flags.idleTtl,
    sessionRetentionS: flags.sessionRetention,
    poolSize: flags.poolSize,
    preload: flags.preload,
    maxBackups: flags.maxBackups,
    historyKeep: flags.historyKeep,
    historyDays: flags.historyDays,
    outputsKeep: flags.outputsKeep,
    outputsDays: flags.outputsDays,
    auditDays: flags.auditDays,
    logLevel: flags.logLevel,
    policyFile: flags.policyFile,
    networkDefault: flags.networkDefault,
    networkAllowlist: flags.networkAllowlist,
    allowFullNetwork: flags.allowFullNetwork,
    allowPackageUrls: flags.allowPackageUrls,
    host: flags.host,
    port: flags.port,
    token: flags.token,
  });
}

function installShutdown(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    void close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// Options written after a subcommand belong to it (`serve --tools core`, `doctor --python X`), not to the
// parent that defines the same names.
const program = new Command('sandbox-mcp')
  .description('An MCP server that runs Python in isolated, persistent sandbox sessions')
  .version(SERVER_VERSION)
  .enablePositionalOptions();

addCommon(program).action(async (flags: CommonFlags) => {
  const asked = configFrom(flags);
  // A client's second window starts a second stdio server: it serves an instance folder of its own.
  const claim = await claimDataDir(asked.dataDir, { transport: 'stdio', fallback: true });
  const config = withClientShare({ ...asked, dataDir: claim.dataDir }, 1); // stdio serves one client
  if (claim.instance !== null) {
    createLogger(config.logLevel).info(
      { data_dir: claim.dataDir, held_by: claim.heldBy },
      `the data dir ${asked.dataDir} is served by another process; this one serves instance ${claim.instance}`,
    );
  }
  const app = createApp(config, (flags.tools ?? 'full') as ToolProfile);
  await app.ready;
  const stdio = await startStdio(app.factory);
  // A signal closes stdio, which also ends the wait below: both paths share one shutdown.
  let closing: Promise<void> | undefined;
  const close = () => {
    claim.closing(); // a server started meanwhile (a client restarting it) waits for this data dir
    return (closing ??= stdio
      .close()
      .then(() => app.close())
      .finally(() => claim.release()));
  };
  installShutdown(close);
  await stdio.closed;
  await close();
  process.exit(0);
});

addCommon(
  program.command('serve').description('serve MCP over Streamable HTTP (bearer token, 127.0.0.1 by default)'),
)
  .option('--host <host>', 'address to listen on (127.0.0.1)')
  .option('--port <port>', 'port to listen on (8765; 0 picks a free one)')
  .option(
    '--token <token>',
    'bearer token(s), comma-separated (env SANDBOX_MCP_TOKEN); generated when absent',
  )
  .action(async (flags: CommonFlags & { host?: string; port?: string; token?: string }) => {
    // Common options may come before `serve` (the parent's) or after it (serve's own, which win).
    const merged = { ...program.opts<CommonFlags>(), ...flags };
    const config = configFrom(merged);
    // One server per data dir: a second `serve` stops here, naming the one that serves it.
    const claim = await claimDataDir(config.dataDir, { transport: 'http', fallback: false });
    const tokens = loadOrCreateToken(config.dataDir, config.token);
    // Each token is a client: unless set, each may hold an even share of the sessions' total memory.
    const app = createApp(
      withClientShare(config, tokens.tokens.length),
      (merged.tools ?? 'full') as ToolProfile,
    );
    await app.ready;
    const http = await startHttp(app.factory, {
      host: config.host,
      port: config.port,
      tokens: tokens.tokens,
      extraRoutes: statusRoutes(app.services, app.statusExtras),
    });
    const statusUrl = http.url.replace(/\/mcp$/, '/status');
    process.stderr.write(
      `sandbox-mcp listening on ${http.url}\n` +
        `Status page: ${statusUrl}?token=<token>\n` +
        (tokens.generated ? `A new token was generated and stored in ${config.dataDir}/http-token.\n` : '') +
        `Client configuration:\n${clientConfigSnippet(http.url, tokens.primary)}\n`,
    );
    installShutdown(async () => {
      claim.closing();
      await http.close();
      await app.close();
      await claim.release();
    });
  });

program
  .command('doctor')
  .description(
    'show which protections this machine enforces, by which mechanism, and how to fix what is missing',
  )
  .option('--python <path>', 'the Python interpreter to check', '/usr/bin/python3')
  .option('--bwrap <path>', 'the bubblewrap binary to check', '/usr/bin/bwrap')
  .option('--json', 'print the report as JSON')
  .option('--data-dir <dir>', 'the data dir whose size by kind is shown (env SANDBOX_MCP_HOME)')
  .addOption(
    new Option('--isolation <mode>', 'the backend to check: auto (each one present), bwrap or docker')
      .choices(['auto', 'bwrap', 'docker'])
      .default('auto'),
  )
  .option('--docker-image <image>', 'Docker: an image with python3 instead of the shipped Dockerfile')
  .option('--docker-base-image <image>', "Docker: the shipped Dockerfile's base image")
  .action(async (flags: Omit<DoctorFlags, 'agentDir'> & { json?: boolean; dataDir?: string }) => {
    // the bubblewrap report, the Docker section, or both (src/sandbox/docker/doctor-command.ts)
    const report = await doctorCommand({ ...flags, agentDir: AGENT_DIR });
    const usage = dataDirUsage(flags.dataDir ?? defaultDataDir());
    process.stdout.write(
      flags.json
        ? JSON.stringify({ ...report.json, data_dir: usage }, null, 2) + '\n'
        : `${report.text}\n\n${formatDataDirUsage(usage)}\n`,
    );
    // a protection that does not hold is a failure a script or CI can see
    if (!report.ok) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`sandbox-mcp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
