#!/usr/bin/env node
// The sandbox-mcp command: stdio server (default), `serve` (HTTP), `config` (settings in force), `doctor` (protections).
import { Command, Option } from 'commander';
import { createApp } from './app.js';
import { loadConfig, resolveSettings, withClientShare, type Config } from './config.js';
import {
  defaultShown,
  displayValue,
  SETTING_KEYS,
  SETTINGS,
  type Setting,
  type SettingKey,
} from './settings.js';
import { loadOrCreateToken, clientConfigSnippet } from './server/auth.js';
import { startHttp } from './server/http.js';
import { statusRoutes } from './server/status-page.js';
import { startStdio } from './server/stdio.js';
import { SERVER_VERSION } from './server/server.js';
import { doctorCommand } from './sandbox/docker/doctor-command.js';
import { AGENT_DIR } from './sandbox/box-options.js';
import { claimDataDir } from './sessions/ownership.js';
import { dataDirUsage, formatDataDirUsage } from './store/data-dir-usage.js';
import { createLogger } from './log.js';

/** Commander's parsed options: each setting's flag under the name commander gives it (`--idle-ttl` → idleTtl). */
type Flags = Record<string, unknown>;

function settingOption(key: SettingKey): Option {
  const s: Setting = SETTINGS[key];
  const opt = new Option(s.flag, `${s.help} (env ${s.env}; default: ${defaultShown(key)})`);
  return s.choices ? opt.choices(s.choices) : opt;
}

/** Adds the flag of each setting (`serve`'s own too when `serve` is true). */
function addSettings(cmd: Command, serve: boolean): Command {
  for (const key of SETTING_KEYS) if (serve || !SETTINGS[key].serveOnly) cmd.addOption(settingOption(key));
  return cmd;
}

/** The settings the flags name, by setting (commander names `--idle-ttl` idleTtl; the setting is idleTtlS). */
function settingsFrom(flags: Flags): Partial<Record<SettingKey, unknown>> {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) out[key] = flags[new Option(SETTINGS[key].flag).attributeName()];
  return out;
}

function configFrom(flags: Flags): Config {
  return loadConfig(settingsFrom(flags));
}

/** A subcommand's flags: settings may come before it (the parent's) or after it (its own, which win). */
function withParentFlags(flags: Flags): Flags {
  return { ...program.opts<Flags>(), ...flags };
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

addSettings(program, false).action(async (flags: Flags) => {
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
  const app = createApp(config, config.tools);
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

addSettings(
  program.command('serve').description('serve MCP over Streamable HTTP (bearer token, 127.0.0.1 by default)'),
  true,
).action(async (flags: Flags) => {
  const merged = withParentFlags(flags);
  const config = configFrom(merged);
  // One server per data dir: a second `serve` stops here, naming the one that serves it.
  const claim = await claimDataDir(config.dataDir, { transport: 'http', fallback: false });
  const tokens = loadOrCreateToken(config.dataDir, config.token);
  // Each token is a client: unless set, each may hold an even share of the sessions' total memory.
  const app = createApp(withClientShare(config, tokens.tokens.length), config.tools);
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

addSettings(
  program
    .command('config')
    .description('print each setting as the flags, SANDBOX_MCP_* variables and defaults make it, and exit')
    .option('--json', 'print it as JSON'),
  true,
).action((flags: Flags) => {
  const settings: Record<string, unknown> = { ...resolveSettings(settingsFrom(withParentFlags(flags))) };
  // a token is a secret: say how many are set, never what they are
  if (typeof settings.token === 'string') settings.token = `${settings.token.split(',').length} set`;
  process.stdout.write(
    flags.json
      ? JSON.stringify(settings, null, 2) + '\n'
      : SETTING_KEYS.map((k) => `${SETTINGS[k].flag.split(' ')[0]} ${displayValue(settings[k])}\n`).join(''),
  );
});

/** The settings doctor checks, written after `doctor` (before it too, as for every command). */
const DOCTOR_SETTINGS = ['python', 'bwrapPath', 'dataDir', 'dockerImage', 'dockerBaseImage'] as const;

const doctor = program
  .command('doctor')
  .description(
    'show which protections this machine enforces, by which mechanism, and how to fix what is missing',
  )
  .option('--json', 'print the report as JSON')
  .addOption(
    new Option(
      '--isolation <mode>',
      `the backend to check: auto (each one present), bwrap or docker (env ${SETTINGS.isolation.env}; default: auto)`,
    ).choices(['auto', 'bwrap', 'docker']),
  );
for (const key of DOCTOR_SETTINGS) doctor.addOption(settingOption(key));
doctor.action(async (flags: Flags) => {
  // each setting as the server would take it (flags, then SANDBOX_MCP_* variables, then defaults)
  const s = resolveSettings(settingsFrom(withParentFlags(flags)));
  const report = await doctorCommand({
    python: s.python,
    bwrap: s.bwrapPath,
    isolation: s.isolation === 'none' ? 'auto' : s.isolation,
    dockerImage: s.dockerImage,
    dockerBaseImage: s.dockerBaseImage,
    agentDir: AGENT_DIR,
  });
  // the bubblewrap report, the Docker section, or both (src/sandbox/docker/doctor-command.ts)
  const usage = dataDirUsage(s.dataDir);
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
