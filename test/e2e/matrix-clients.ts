// The clients of the client matrix behind one interface: the official SDK 1.x client, the SDK v2 client and the
// MCP Inspector CLI, each over stdio (spawning the built server) or Streamable HTTP (a running one).
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as V1HttpClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CLI, baseEnv } from './harness.js';
import { runInspector } from './third-party.js';

export type Profile = 'core' | 'full';

/** Where a client finds the server: a command it spawns, or an HTTP endpoint with its own token. */
export type Target =
  { kind: 'stdio'; profile: Profile; dataDir: string } | { kind: 'http'; url: string; token: string };

export interface MatrixClient {
  label: string;
  /** tools/list, as a real client does first: both SDKs keep the output schemas it returns to check results. */
  tools(): Promise<string[]>;
  /** Rejects when the client refuses the result (e.g. structuredContent not matching the output schema). */
  call(tool: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

function serverArgs(profile: Profile, dataDir: string, poolSize = 1): string[] {
  return [CLI, '--data-dir', dataDir, '--pool-size', String(poolSize), '--tools', profile];
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

/** How either SDK's stdio transport starts the server for a stdio target. */
const spawnParams = (target: Extract<Target, { kind: 'stdio' }>) => ({
  command: process.execPath,
  args: serverArgs(target.profile, target.dataDir),
  env: baseEnv(),
  stderr: 'pipe' as const,
});

/** What both SDKs' clients offer, as far as the matrix uses it. */
interface SdkClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

function matrixClient(label: string, client: SdkClient): MatrixClient {
  return {
    label,
    tools: async () => (await client.listTools()).tools.map((t) => t.name),
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}

export async function sdkV1(target: Target): Promise<MatrixClient> {
  const client = new V1Client({ name: 'matrix-sdk-1', version: '1.0.0' });
  await client.connect(
    target.kind === 'stdio'
      ? new V1StdioClientTransport(spawnParams(target))
      : new V1HttpClientTransport(new URL(target.url), { requestInit: bearer(target.token) }),
  );
  return matrixClient(`sdk-1.x/${target.kind}`, client);
}

export async function sdkV2(target: Target): Promise<MatrixClient> {
  const client = new Client(
    { name: 'matrix-sdk-2', version: '1.0.0' },
    { versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(
    target.kind === 'stdio'
      ? new StdioClientTransport(spawnParams(target))
      : new StreamableHTTPClientTransport(new URL(target.url), { requestInit: bearer(target.token) }),
  );
  return matrixClient(`sdk-2/${target.kind}`, client);
}

/** How the Inspector CLI reaches a target: the server command it spawns, or the URL and the bearer header. */
function inspectorTarget(target: Target): string[] {
  return target.kind === 'stdio'
    ? [process.execPath, ...serverArgs(target.profile, target.dataDir, 0)]
    : [
        '--transport',
        'http',
        '--server-url',
        target.url,
        '--header',
        `Authorization: Bearer ${target.token}`,
      ];
}

/** The tool names an Inspector CLI run of tools/list prints (it spawns for the run, as for every call). */
export async function inspectorTools(home: string, target: Target): Promise<string[]> {
  const r = await runInspector(home, [...inspectorTarget(target), '--method', 'tools/list']);
  type Listed = { result?: { tools?: Array<{ name: string }> } };
  const tools = (r.stdout.trim() ? (JSON.parse(r.stdout) as Listed) : {}).result?.tools;
  if (!tools) throw new Error(`inspector listed no tools (exit ${r.code}): ${r.stderr.trim()}`);
  return tools.map((t) => t.name);
}

/**
 * One Inspector CLI run (it spawns per call): the result when it accepted it, printed on stdout; a tool error
 * exits 5 with `tool_is_error` on stderr, a result it refuses exits with its own error there and no result.
 */
export async function inspectorCall(
  home: string,
  target: Target,
  tool: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  // As one JSON object, passed verbatim: `--tool-arg k=v` would turn the code "1" into a number.
  const r = await runInspector(home, [
    ...inspectorTarget(target),
    '--method',
    'tools/call',
    '--tool-name',
    tool,
    '--tool-args-json',
    JSON.stringify(args),
  ]);
  const out = r.stdout.trim() ? (JSON.parse(r.stdout) as { result?: CallToolResult }) : {};
  if (!out.result) throw new Error(`inspector refused the result (exit ${r.code}): ${r.stderr.trim()}`);
  return out.result;
}
