// The server's settings, each written once: its zod type and default, its SANDBOX_MCP_* variable, its flag and help.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defaultTotalMemoryMb, defaultTotalPids } from './sandbox/host-capacity.js';
import { DEFAULT_DOCKER_BASE_IMAGE } from './sandbox/docker/image.js';

export interface Setting<T extends z.ZodType = z.ZodType> {
  /** The value's type and, where it has one, its default (`.default()`). */
  schema: T;
  env: `SANDBOX_MCP_${string}`;
  /** The long flag, with `<arg>` unless it is a switch. */
  flag: `--${string}`;
  help: string;
  /** The values the flag takes, for `--help` and commander's check. */
  choices?: readonly string[];
  /** What the help says of a default the schema does not hold (one that depends on the host or the clients). */
  defaultText?: () => string;
  /** Only `serve` (HTTP) takes it. */
  serveOnly?: boolean;
}

function row<T extends z.ZodType>(schema: T, meta: Omit<Setting<T>, 'schema'>): Setting<T> {
  return { schema, ...meta };
}

const num = (def: number) => z.coerce.number().positive().default(def);
const int = (min: number, def: number) => z.coerce.number().int().min(min).default(def);
function choice<const V extends readonly [string, ...string[]]>(values: V, def: V[number]) {
  return { schema: z.enum(values).default(def), choices: values };
}
// Switches from flags (true) or the environment ("1", "true", "yes"); z.coerce.boolean would read "false" as true.
const onOff = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes')
  .default(false);

/** The data dir when neither --data-dir nor SANDBOX_MCP_HOME names one. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOX_MCP_HOME) return env.SANDBOX_MCP_HOME;
  const xdg = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(xdg, 'sandbox-mcp');
}

const isolation = choice(['auto', 'bwrap', 'docker', 'none'], 'auto');
const preload = choice(['none', 'scientific'], 'scientific');
const tools = choice(['core', 'full'], 'full');
const logLevel = choice(['trace', 'debug', 'info', 'warn', 'error', 'silent'], 'info');
const dockerWorkspace = choice(['auto', 'bind', 'volume'], 'auto');
const networkDefault = choice(['none', 'allowlist', 'full'], 'none');

export const SETTINGS = {
  dataDir: row(z.string().min(1), {
    env: 'SANDBOX_MCP_HOME',
    flag: '--data-dir <dir>',
    help: 'where sessions, the database and backups live',
    defaultText: () =>
      `$XDG_DATA_HOME/sandbox-mcp, here ${defaultDataDir({ ...process.env, SANDBOX_MCP_HOME: '' })}`,
  }),
  /** auto: bubblewrap where it is, else a Docker engine (src/sandbox/docker/endpoint.ts); none: no sandbox. */
  isolation: row(isolation.schema, {
    env: 'SANDBOX_MCP_ISOLATION',
    flag: '--isolation <mode>',
    choices: isolation.choices,
    help: 'auto: bwrap where it is, else a Docker engine; bwrap; docker; or none: run code unsandboxed',
  }),
  dockerImage: row(z.string().min(1).optional(), {
    env: 'SANDBOX_MCP_DOCKER_IMAGE',
    flag: '--docker-image <image>',
    help: 'Docker boxes: an image with python3 to use instead of building the shipped one',
    defaultText: () => 'the shipped Dockerfile, built on first use',
  }),
  dockerBaseImage: row(z.string().min(1).default(DEFAULT_DOCKER_BASE_IMAGE), {
    env: 'SANDBOX_MCP_DOCKER_BASE_IMAGE',
    flag: '--docker-base-image <image>',
    help: "Docker boxes: the shipped Dockerfile's base image",
  }),
  /** src/sandbox/docker/workspace-sync.ts: a volume kept in step with the host folder through the Engine API. */
  dockerWorkspace: row(dockerWorkspace.schema, {
    env: 'SANDBOX_MCP_DOCKER_WORKSPACE',
    flag: '--docker-workspace <mode>',
    choices: dockerWorkspace.choices,
    help: "Docker boxes' /workspace: bind (a bind mount of the host folder), volume (a volume synced through the engine), or auto: bind for a unix-socket engine, volume for tcp:// and ssh://",
  }),
  bwrapPath: row(z.string().default('/usr/bin/bwrap'), {
    env: 'SANDBOX_MCP_BWRAP',
    flag: '--bwrap <path>',
    help: 'the bubblewrap binary',
  }),
  python: row(z.string().default('/usr/bin/python3'), {
    env: 'SANDBOX_MCP_PYTHON',
    flag: '--python <path>',
    help: 'the Python interpreter used inside the sandbox',
  }),
  // 50, not 60: the TS SDK and most clients give up on a request after 60 s; a cell that hits the limit must
  // end, with the grace and the result, before that, so the agent gets the structured timeout and its hint.
  timeoutS: row(num(50), {
    env: 'SANDBOX_MCP_TIMEOUT',
    flag: '--timeout <seconds>',
    help: 'wall-clock limit per call, seconds: the default and the ceiling (a tool argument may lower it)',
  }),
  graceMs: row(num(2000), {
    env: 'SANDBOX_MCP_GRACE_MS',
    flag: '--grace-ms <ms>',
    help: 'after a timeout interrupts a call, how long before its process is killed, milliseconds',
  }),
  memoryMb: row(num(1024), {
    env: 'SANDBOX_MCP_MEMORY_MB',
    flag: '--memory-mb <mb>',
    help: "memory limit per session, MiB: the default and the ceiling of create_session's memory_mb",
  }),
  pids: row(num(256), {
    env: 'SANDBOX_MCP_PIDS',
    flag: '--pids <n>',
    help: 'process limit per session (threads count)',
  }),
  maxSessions: row(int(1, 10), {
    env: 'SANDBOX_MCP_MAX_SESSIONS',
    flag: '--max-sessions <n>',
    help: 'open sessions per client, its default session included',
  }),
  maxWebApps: row(int(0, 10), {
    env: 'SANDBOX_MCP_MAX_WEB_APPS',
    flag: '--max-web-apps <n>',
    help: 'web apps per client starting or running at once',
  }),
  clientMemoryMb: row(z.coerce.number().positive().optional(), {
    env: 'SANDBOX_MCP_CLIENT_MEMORY_MB',
    flag: '--client-memory-mb <mb>',
    help: "memory limits of one client's open sessions added up, MiB",
    defaultText: () => 'the total shared evenly between the clients (HTTP tokens), at least one session',
  }),
  totalMemoryMb: row(z.coerce.number().positive().optional(), {
    env: 'SANDBOX_MCP_TOTAL_MEMORY_MB',
    flag: '--total-memory-mb <mb>',
    help: 'memory limits of all open sessions added up, MiB',
    defaultText: () => `3/4 of the host's memory, here ${defaultTotalMemoryMb()}`,
  }),
  totalPids: row(z.coerce.number().int().positive().optional(), {
    env: 'SANDBOX_MCP_TOTAL_PIDS',
    flag: '--total-pids <n>',
    help: 'process limits of all open sessions added up',
    defaultText: () => `half the host's pid limit, here ${defaultTotalPids()}`,
  }),
  cpuQuota: row(
    z.coerce
      .number()
      .min(0)
      .max(1024)
      .refine((v) => v === 0 || v >= 0.01, 'must be 0 (no quota) or at least 0.01 CPU')
      .default(0),
    {
      env: 'SANDBOX_MCP_CPU_QUOTA',
      flag: '--cpu-quota <cpus>',
      help: 'CPU time per session in CPUs, e.g. 1.5; 0: no quota, each session has an equal share',
    },
  ),
  boxUid: row(
    z
      .string()
      .regex(/^\d{1,10}(:\d{1,10})?$/, 'must be UID or UID:GID')
      .optional(),
    {
      env: 'SANDBOX_MCP_BOX_UID',
      flag: '--box-uid <uid[:gid]>',
      help: 'as root: the unprivileged host uid (and gid) boxes run as, never root',
      defaultText: () => 'user sandbox-mcp, else 64100',
    },
  ),
  fileSizeMb: row(num(1024), {
    env: 'SANDBOX_MCP_FILE_SIZE_MB',
    flag: '--file-size-mb <mb>',
    help: 'largest file a sandbox may write, MiB',
  }),
  openFiles: row(num(1024), {
    env: 'SANDBOX_MCP_OPEN_FILES',
    flag: '--open-files <n>',
    help: 'open files per sandbox process',
  }),
  idleTtlS: row(num(3600), {
    env: 'SANDBOX_MCP_IDLE_TTL',
    flag: '--idle-ttl <seconds>',
    help: 'stop the processes of sessions idle this long (Python, shell, web apps); files are kept',
  }),
  sessionRetentionS: row(z.coerce.number().min(0).default(2_592_000), {
    env: 'SANDBOX_MCP_SESSION_RETENTION',
    flag: '--session-retention <seconds>',
    help: 'close and delete sessions unused this long, seconds (2592000 is 30 days; 0: never)',
  }),
  poolSize: row(int(0, 2), {
    env: 'SANDBOX_MCP_POOL_SIZE',
    flag: '--pool-size <n>',
    help: 'ready sandboxes kept warm for new sessions; 0: none',
  }),
  preload: row(preload.schema, {
    env: 'SANDBOX_MCP_PRELOAD',
    flag: '--preload <set>',
    choices: preload.choices,
    help: 'what pooled sandboxes import ahead (scientific: numpy, pandas, matplotlib; none: bare interpreters)',
  }),
  outputCap: row(num(32_768), {
    env: 'SANDBOX_MCP_OUTPUT_CAP',
    flag: '--output-cap <bytes>',
    help: 'bytes of each output stream a result keeps (head and tail; the whole is saved in the workspace)',
  }),
  imageInlineCap: row(num(256 * 1024), {
    env: 'SANDBOX_MCP_IMAGE_INLINE_CAP',
    flag: '--image-inline-cap <bytes>',
    help: 'images up to this size come back inline as image content',
  }),
  maxBackups: row(num(10), {
    env: 'SANDBOX_MCP_MAX_BACKUPS',
    flag: '--max-backups <n>',
    help: 'backups kept per session',
  }),
  backupMaxMb: row(num(1024), {
    env: 'SANDBOX_MCP_BACKUP_MAX_MB',
    flag: '--backup-max-mb <mb>',
    help: "files one backup holds at most, MiB of their apparent size (the largest are left out first, listed in the backup's skipped)",
  }),
  historyKeep: row(int(1, 1000), {
    env: 'SANDBOX_MCP_HISTORY_KEEP',
    flag: '--history-keep <n>',
    help: 'execution history rows kept per session, the newest',
  }),
  historyDays: row(num(30), {
    env: 'SANDBOX_MCP_HISTORY_DAYS',
    flag: '--history-days <days>',
    help: 'execution history rows kept at most this long',
  }),
  outputsKeep: row(int(1, 20), {
    env: 'SANDBOX_MCP_OUTPUTS_KEEP',
    flag: '--outputs-keep <n>',
    help: 'saved long outputs (.sandbox/outputs) kept per session, the newest',
  }),
  outputsDays: row(num(7), {
    env: 'SANDBOX_MCP_OUTPUTS_DAYS',
    flag: '--outputs-days <days>',
    help: 'saved long outputs kept at most this long',
  }),
  auditDays: row(num(90), {
    env: 'SANDBOX_MCP_AUDIT_DAYS',
    flag: '--audit-days <days>',
    help: 'audit log rows kept this long',
  }),
  tools: row(tools.schema, {
    env: 'SANDBOX_MCP_TOOLS',
    flag: '--tools <profile>',
    choices: tools.choices,
    help: 'tool profile: core (the everyday tools) or full',
  }),
  host: row(z.string().default('127.0.0.1'), {
    env: 'SANDBOX_MCP_HOST',
    flag: '--host <host>',
    help: 'address to listen on',
    serveOnly: true,
  }),
  port: row(z.coerce.number().int().min(0).max(65535).default(8765), {
    env: 'SANDBOX_MCP_PORT',
    flag: '--port <port>',
    help: 'port to listen on; 0 picks a free one',
    serveOnly: true,
  }),
  token: row(z.string().optional(), {
    env: 'SANDBOX_MCP_TOKEN',
    flag: '--token <token>',
    help: 'bearer token(s), comma-separated',
    defaultText: () => 'generated on first start into <data-dir>/http-token',
    serveOnly: true,
  }),
  logLevel: row(logLevel.schema, {
    env: 'SANDBOX_MCP_LOG_LEVEL',
    flag: '--log-level <level>',
    choices: logLevel.choices,
    help: 'what the log (stderr) shows',
  }),
  policyFile: row(z.string().min(1).optional(), {
    env: 'SANDBOX_MCP_POLICY',
    flag: '--policy-file <path>',
    help: 'JSON file of shell command deny rules (docs/SHELL_POLICY.md)',
    defaultText: () => 'the built-in rules',
  }),
  networkDefault: row(networkDefault.schema, {
    env: 'SANDBOX_MCP_NETWORK_DEFAULT',
    flag: '--network-default <mode>',
    choices: networkDefault.choices,
    help: 'network of sessions that do not ask for one (full needs --allow-full-network)',
  }),
  networkAllowlist: row(z.string().default(''), {
    env: 'SANDBOX_MCP_NETWORK_ALLOWLIST',
    flag: '--network-allowlist <domains>',
    help: 'default allowlist: hosts and *.domains, comma- or space-separated',
  }),
  allowFullNetwork: row(onOff, {
    env: 'SANDBOX_MCP_ALLOW_FULL_NETWORK',
    flag: '--allow-full-network',
    help: "let sessions ask for network 'full' (the host's network)",
  }),
  allowPackageUrls: row(onOff, {
    env: 'SANDBOX_MCP_ALLOW_PACKAGE_URLS',
    flag: '--allow-package-urls',
    help: 'let install_package take URLs and workspace paths, not only names and versions',
  }),
  // Off by default: results are typed at compile time and clients validate what they receive; the tests turn it on.
  checkOutput: row(onOff, {
    env: 'SANDBOX_MCP_CHECK_OUTPUT',
    flag: '--check-output',
    help: "check every tool result against its tool's output schema before sending it",
  }),
};

export type SettingKey = keyof typeof SETTINGS;

type Shape = { [K in SettingKey]: (typeof SETTINGS)[K]['schema'] };

/** Every setting's type, keyed by its name: what flags and the environment are parsed with. */
export const SettingsSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([k, s]) => [k, s.schema])) as Shape,
);

export type Settings = z.infer<typeof SettingsSchema>;

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** The default as `--help` prints it: the schema's own default value, or the row's description of it. */
export function defaultShown(key: SettingKey): string {
  const s: Setting = SETTINGS[key];
  if (s.defaultText) return s.defaultText();
  return displayValue(s.schema.parse(undefined));
}

/** A value as help and the config dump print it: switches as on/off, an empty string as none. */
export function displayValue(v: unknown): string {
  if (v === true) return 'on';
  if (v === false) return 'off';
  if (v === '' || v === undefined) return 'none';
  return String(v);
}
