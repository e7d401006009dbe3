// End-to-end: command-line options reach the command they are written after (stdio, serve, doctor), and every
// setting's flag and SANDBOX_MCP_* variable reach the configuration, with the default `--help` shows.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { SETTING_KEYS, SETTINGS, type SettingKey } from '../../src/settings.js';
import { toolsForProfile } from '../../src/server/registry.js';
import { CLI, startHttp, startStdio } from './harness.js';

const core = toolsForProfile(loadConfig({ dataDir: '/nonexistent' }, {}), 'core').map((t) => t.name);

describe('command-line options', () => {
  it('--tools core serves the core profile over stdio and over HTTP (written after `serve`)', async () => {
    expect(core.length).toBeGreaterThan(5);
    for (const start of [startStdio, startHttp]) {
      const h = await start({ args: ['--tools', 'core'] });
      try {
        const names = (await h.client.listTools()).tools.map((t) => t.name).sort();
        expect(names).toEqual([...core].sort());
      } finally {
        await h.close();
      }
    }
  });

  it('doctor checks the interpreter given after `doctor`', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI,
      'doctor',
      '--python',
      '/nonexistent/python3',
      '--json',
    ]).catch((err: { stdout: string }) => err);
    expect(JSON.parse(stdout).python).toBe('/nonexistent/python3');
  });
});

const home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-settings-'));

/** Runs the built command with only the given environment (no SANDBOX_MCP_* of the caller's). */
async function cli(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env },
  });
  return stdout;
}

/** A value for each setting that is not its default, as written on the command line, and what it must become. */
const SAMPLES: Record<SettingKey, [text: string | true, value: unknown]> = {
  dataDir: [join(home, 'data'), join(home, 'data')],
  isolation: ['none', 'none'],
  dockerImage: ['example/python:3', 'example/python:3'],
  dockerBaseImage: ['debian:trixie-slim', 'debian:trixie-slim'],
  dockerWorkspace: ['volume', 'volume'],
  bwrapPath: ['/opt/bwrap', '/opt/bwrap'],
  python: ['/opt/python3', '/opt/python3'],
  timeoutS: ['7', 7],
  graceMs: ['500', 500],
  memoryMb: ['512', 512],
  pids: ['100', 100],
  maxSessions: ['3', 3],
  maxWebApps: ['0', 0],
  clientMemoryMb: ['2048', 2048],
  totalMemoryMb: ['4096', 4096],
  totalPids: ['1000', 1000],
  cpuQuota: ['1.5', 1.5],
  boxUid: ['64200:64200', '64200:64200'],
  fileSizeMb: ['64', 64],
  openFiles: ['256', 256],
  idleTtlS: ['60', 60],
  sessionRetentionS: ['0', 0],
  poolSize: ['0', 0],
  preload: ['none', 'none'],
  outputCap: ['4096', 4096],
  imageInlineCap: ['1024', 1024],
  maxBackups: ['4', 4],
  backupMaxMb: ['256', 256],
  historyKeep: ['50', 50],
  historyDays: ['2', 2],
  outputsKeep: ['5', 5],
  outputsDays: ['1', 1],
  auditDays: ['9', 9],
  tools: ['core', 'core'],
  host: ['127.0.0.3', '127.0.0.3'],
  port: ['9999', 9999],
  token: ['a'.repeat(20) + ',' + 'b'.repeat(20), '2 set'],
  logLevel: ['debug', 'debug'],
  policyFile: ['/etc/sandbox-policy.json', '/etc/sandbox-policy.json'],
  networkDefault: ['allowlist', 'allowlist'],
  networkAllowlist: ['pypi.org,*.example.com', 'pypi.org,*.example.com'],
  allowFullNetwork: [true, true],
  allowPackageUrls: [true, true],
  checkOutput: [true, true],
};

/** The lines of a flag's entry in `--help`, joined, with commander's wrapping undone. */
function helpEntry(help: string, flag: string): string | undefined {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith(flag + ' ') || l.trim() === flag);
  if (start < 0) return undefined;
  let end = start + 1;
  while (end < lines.length && /^\s{6,}\S/.test(lines[end]!) && !/^\s*-/.test(lines[end]!)) end++;
  return lines.slice(start, end).join(' ').replace(/\s+/g, ' ');
}

describe('settings: help, flags and environment', () => {
  it('--help shows, for each setting, its variable and the default the configuration really has', async () => {
    const defaults = JSON.parse(await cli(['config', '--json'])) as Record<string, unknown>;
    const helps = {
      root: await cli(['--help']),
      serve: await cli(['serve', '--help']),
      config: await cli(['config', '--help']),
    };
    for (const key of SETTING_KEYS) {
      const s = SETTINGS[key];
      const flag = s.flag.split(' ')[0]!;
      const shown = key in defaults ? defaults[key] : undefined;
      const text = shown === true ? 'on' : shown === false ? 'off' : shown === '' ? 'none' : String(shown);
      for (const [name, help] of Object.entries(helps)) {
        const entry = helpEntry(help, flag);
        if (name === 'root' && s.serveOnly) {
          expect(entry, `${flag} is serve's only`).toBeUndefined();
          continue;
        }
        expect(entry, `${flag} in ${name} --help`).toBeDefined();
        expect(entry, flag).toContain(`env ${s.env}`);
        const dflt = entry!.slice(entry!.indexOf('default:'));
        expect(dflt, flag).toMatch(/^default: \S/);
        if (shown !== undefined) expect(dflt, flag).toContain(text);
      }
    }
  });

  it('each flag and each SANDBOX_MCP_* variable reaches the configuration', async () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...SETTING_KEYS].sort());
    const defaults = JSON.parse(await cli(['config', '--json'])) as Record<string, unknown>;
    const args: string[] = [];
    const env: Record<string, string> = {};
    for (const key of SETTING_KEYS) {
      const [text, value] = SAMPLES[key];
      expect(value, `${key}'s sample is its default`).not.toEqual(defaults[key]);
      const flag = SETTINGS[key].flag.split(' ')[0]!;
      args.push(...(text === true ? [flag] : [flag, text]));
      env[SETTINGS[key].env] = text === true ? '1' : text;
    }
    const expected = Object.fromEntries(SETTING_KEYS.map((k) => [k, SAMPLES[k][1]]));
    expect(JSON.parse(await cli(['config', '--json', ...args]))).toEqual(expected);
    expect(JSON.parse(await cli(['config', '--json'], env))).toEqual(expected);
  });

  it('settings written before a subcommand reach it, and its own win', async () => {
    const out = await cli(['--timeout', '9', '--pids', '88', 'config', '--json', '--pids', '77']);
    expect(JSON.parse(out)).toMatchObject({ timeoutS: 9, pids: 77 });
  });
});

describe('doctor', () => {
  it('checks the interpreter SANDBOX_MCP_PYTHON names, as serve would run it', async () => {
    const run = promisify(execFile);
    const r = await run(process.execPath, [CLI, 'doctor', '--isolation', 'bwrap', '--json'], {
      env: { ...process.env, SANDBOX_MCP_PYTHON: '/nonexistent/python3' },
    }).catch((err: { stdout: string }) => err);
    expect((JSON.parse(r.stdout) as { python?: string }).python).toBe('/nonexistent/python3');
  }, 60_000);

  it('checks what the server would run with the settings written before `doctor` and SANDBOX_MCP_*', async () => {
    const run = promisify(execFile);
    const args = [
      CLI,
      '--python',
      '/nonexistent/python3',
      '--data-dir',
      join(home, 'doctor'),
      'doctor',
      '--json',
    ];
    const r = await run(process.execPath, args, {
      // an engine is named, but the server would run bubblewrap: doctor checks that alone
      env: { ...process.env, SANDBOX_MCP_ISOLATION: 'bwrap', DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    }).catch((err: { stdout: string }) => err);
    const report = JSON.parse(r.stdout) as {
      python?: string;
      docker?: unknown;
      data_dir?: { path?: string };
    };
    expect(report.python).toBe('/nonexistent/python3');
    expect(report.data_dir?.path).toBe(join(home, 'doctor'));
    expect(report.docker).toBeUndefined();
  }, 60_000);
});
