// Every client gets every answer: the official SDK 1.x client and the SDK v2 client, over stdio and Streamable HTTP,
// call every tool of both profiles with failing and valid arguments, and the MCP Inspector CLI (one process per
// call) runs a sample of those calls. Each client must accept each result and show the error code and hint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { errorOf, startHttpProcess } from './harness.js';
import { CASES, shownText, type MatrixCase } from './client-matrix-cases.js';
import { inspectorCall, sdkV1, sdkV2, type Profile, type Target } from './matrix-clients.js';
import { requireThirdPartyTools } from './third-party.js';

const TRANSPORTS = ['stdio', 'http'] as const;
const PROFILES: Profile[] = ['core', 'full'];
/** One token per client over HTTP: each is its own owner, so the clients' calls cannot meet in one session. */
const TOKENS = [
  'matrix-sdk1-token-0123456789',
  'matrix-sdk2-token-0123456789',
  'matrix-insp-token-0123456789',
];

/**
 * What the Inspector runs, over both transports (it spawns for every call, a few seconds each under load): an
 * unknown session, a failed run (a full result whose error is part of it), a missing file and a valid call in the
 * core profile, a policy denial in the full profile.
 */
const INSPECTOR_SAMPLE: Array<[Profile, MatrixCase]> = [
  ['core', CASES['execute']![0]!],
  ['core', CASES['execute']![1]!],
  ['core', CASES['read_file']![0]!],
  ['core', CASES['list_sessions']![0]!],
  ['full', CASES['shell_execute']![1]!],
];
/** Inspector runs at a time: each is a node process that mostly waits (and over stdio starts a server). */
const INSPECTOR_PARALLEL = 3;

/** Why a client's answer to one case is wrong, or undefined when it is right. */
async function problem(call: () => Promise<CallToolResult>, c: MatrixCase): Promise<string | undefined> {
  let r: CallToolResult;
  try {
    r = await call();
  } catch (err) {
    return `client refused the result: ${(err as Error).message}`;
  }
  const text = shownText(r);
  if (c.code === undefined) {
    if (r.isError) return `failed: ${text.slice(0, 300)}`;
    return r.structuredContent === undefined ? 'no structuredContent' : undefined;
  }
  if (r.isError !== true) return 'not marked isError';
  let error: Record<string, any>;
  try {
    error = errorOf(r);
  } catch (err) {
    return (err as Error).message;
  }
  if (error.code !== c.code) return `code ${error.code} (expected ${c.code}): ${error.message}`;
  if (!error.hint) return c.noHint ? undefined : `${error.code} without a hint: ${error.message}`;
  if (!text.includes(error.code)) return 'the text does not show the code';
  if (!text.includes(error.hint) && !text.includes(JSON.stringify(error.hint).slice(1, -1)))
    return 'the text does not show the hint';
  return undefined;
}

const label = (c: MatrixCase) => `${c.tool}(${JSON.stringify(c.args)})`;

/** Where the server for one client is: its own spawned process over stdio, the shared one over HTTP. */
async function targets(
  kind: (typeof TRANSPORTS)[number],
  profile: Profile,
): Promise<{ targets: Target[]; stop: () => Promise<void> }> {
  const dirs = TOKENS.map(() => mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-')));
  const removeDirs = () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  if (kind === 'stdio') {
    return { targets: dirs.map((dataDir) => ({ kind, profile, dataDir })), stop: async () => removeDirs() };
  }
  const http = await startHttpProcess({
    token: TOKENS.join(','),
    dataDir: dirs[0],
    args: ['--tools', profile],
  });
  return {
    targets: TOKENS.map((token) => ({ kind, url: http.url, token })),
    stop: async () => {
      await http.stop();
      removeDirs();
    },
  };
}

describe.each(TRANSPORTS)('client matrix over %s', (kind) => {
  it.each(PROFILES)(
    '--tools %s: the SDK 1.x and v2 clients accept every result of every tool and show its code and hint',
    async (profile) => {
      const {
        targets: [t1, t2],
        stop,
      } = await targets(kind, profile);
      const clients = await Promise.all([sdkV1(t1!), sdkV2(t2!)]);
      try {
        const runs = await Promise.all(
          clients.map(async (client) => {
            const tools = await client.tools();
            const problems = tools.filter((t) => !CASES[t]).map((t) => `${t}: no case in the matrix`);
            for (const tool of tools) {
              for (const c of CASES[tool] ?? []) {
                const p = await problem(() => client.call(c.tool, c.args), c);
                if (p) problems.push(`${client.label} ${label(c)}: ${p}`);
              }
            }
            return { tools: tools.length, problems };
          }),
        );
        for (const run of runs) expect(run.tools).toBeGreaterThanOrEqual(profile === 'core' ? 15 : 37);
        expect(runs.flatMap((r) => r.problems)).toEqual([]);
      } finally {
        await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
        await stop();
      }
    },
    180_000,
  );
});

describe('client matrix: the MCP Inspector CLI', () => {
  it('accepts a sample of results over stdio and HTTP, both profiles, and shows code and hint', async () => {
    requireThirdPartyTools();
    const home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-inspector-'));
    const servers = await Promise.all(PROFILES.map((profile) => targets('http', profile)));
    try {
      const runs: Array<() => Promise<string | undefined>> = [];
      for (const [profile, c] of INSPECTOR_SAMPLE) {
        const http = servers[PROFILES.indexOf(profile)]!.targets[2]!;
        runs.push(async () => {
          const p = await problem(() => inspectorCall(home, http, c.tool, c.args), c);
          return p && `inspector/http ${profile} ${label(c)}: ${p}`;
        });
        runs.push(async () => {
          // Over stdio every run is a fresh server: each gets its own data dir.
          const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-'));
          try {
            const p = await problem(
              () => inspectorCall(home, { kind: 'stdio', profile, dataDir }, c.tool, c.args),
              c,
            );
            return p && `inspector/stdio ${profile} ${label(c)}: ${p}`;
          } finally {
            rmSync(dataDir, { recursive: true, force: true });
          }
        });
      }
      const problems: string[] = [];
      for (let i = 0; i < runs.length; i += INSPECTOR_PARALLEL) {
        const batch = runs.slice(i, i + INSPECTOR_PARALLEL);
        for (const p of await Promise.all(batch.map((run) => run()))) if (p) problems.push(p);
      }
      expect(problems).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);
});
