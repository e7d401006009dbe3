#!/usr/bin/env node
// The sandbox-mcp command: stdio server (default), `serve` for Streamable HTTP, `doctor` for what this machine enforces.
import { Command, Option } from 'commander';
import { createApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { loadOrCreateToken, clientConfigSnippet } from './server/auth.js';
import { startHttp } from './server/http.js';
import { statusRoutes } from './server/status-page.js';
import { startStdio } from './server/stdio.js';
import { SERVER_VERSION } from './server/server.js';
import type { ToolProfile } from './server/tool-def.js';
import { formatDoctorReport, runDoctor } from './sandbox/doctor.js';

interface CommonFlags {
  dataDir?: string;
  isolation?: string;
  python?: string;
  timeout?: string;
  memoryMb?: string;
  pids?: string;
  idleTtl?: string;
  poolSize?: string;
  maxBackups?: string;
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
      new Option('--isolation <mode>', 'bwrap (default) or none: run code unsandboxed').choices([
        'bwrap',
        'none',
      ]),
    )
    .option('--python <path>', 'the Python interpreter used inside the sandbox (default /usr/bin/python3)')
    .option('--timeout <seconds>', 'default wall-clock limit per call (60)')
    .option('--memory-mb <mb>', 'default memory limit per session (1024)')
    .option('--pids <n>', 'process limit per session (256)')
    .option('--idle-ttl <seconds>', 'close sessions idle this long (3600)')
    .option('--pool-size <n>', 'ready sandboxes kept warm for new sessions (2)')
    .option('--max-backups <n>', 'backups kept per session (10)')
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
    python: flags.python,
    timeoutS: flags.timeout,
    memoryMb: flags.memoryMb,
    pids: flags.pids,
    idleTtlS: flags.idleTtl,
    poolSize: flags.poolSize,
    maxBackups: flags.maxBackups,
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
  const config = configFrom(flags);
  const app = createApp(config, (flags.tools ?? 'full') as ToolProfile);
  await app.ready;
  const stdio = await startStdio(app.factory);
  // A signal closes stdio, which also ends the wait below: both paths share one shutdown.
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= stdio.close().then(() => app.close()));
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
    const tokens = loadOrCreateToken(config.dataDir, config.token);
    const app = createApp(config, (merged.tools ?? 'full') as ToolProfile);
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
      await http.close();
      await app.close();
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
  .action(async (flags: { python: string; bwrap: string; json?: boolean }) => {
    const report = await runDoctor({ bwrapPath: flags.bwrap, python: flags.python });
    process.stdout.write(
      flags.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report) + '\n',
    );
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`sandbox-mcp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
