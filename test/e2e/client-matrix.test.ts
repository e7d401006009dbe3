// Every client gets every answer: the official SDK 1.x client and the SDK v2 client, over stdio and Streamable HTTP,
// call every tool of both profiles with failing and valid arguments, and so does the MCP Inspector CLI over HTTP (one
// server per profile, a process per call). The Inspector CLI makes one call per spawned server and has no way to send
// several through one, so over stdio it calls every tool of both profiles once (a server each). Each client must
// accept each result and show the error code and hint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { errorOf, startHttpProcess } from './harness.js';
import { CASES, shownText, type MatrixCase } from './client-matrix-cases.js';
import { inspectorCall, inspectorTools, sdkV1, sdkV2, type Profile, type Target } from './matrix-clients.js';
import { requireThirdPartyTools } from './third-party.js';

const TRANSPORTS = ['stdio', 'http'] as const;
const PROFILES: Profile[] = ['core', 'full'];
/** One token per client over HTTP: each is its own owner, so the clients' calls cannot meet in one session. */
const TOKENS = [
  'matrix-sdk1-token-0123456789',
  'matrix-sdk2-token-0123456789',
  'matrix-insp-token-0123456789',
];

/** Inspector runs at a time: each is a node process that mostly waits (and over stdio starts a server). */
const INSPECTOR_PARALLEL = 4;

/** Runs the checks, at most `parallel` at a time; resolves with the problems they found, in their order. */
async function inPool(checks: Array<() => Promise<string | undefined>>, parallel: number): Promise<string[]> {
  const found: Array<string | undefined> = [];
  let next = 0;
  const worker = async () => {
    while (next < checks.length) {
      const i = next++;
      found[i] = await checks[i]!();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return found.filter((p): p is string => p !== undefined);
}

/**
 * The one call a tool gets over stdio, where every call has a fresh server and data dir (so never a case that reads
 * an earlier one's result): in the full profile its first case (mostly a failure), in the core profile its last
 * (mostly a valid call), so both kinds of result cross stdio.
 */
function stdioCase(profile: Profile, tool: string): MatrixCase | undefined {
  const alone = (CASES[tool] ?? []).filter((c) => c.after === undefined);
  return profile === 'full' ? alone[0] : alone[alone.length - 1];
}

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
  it('accepts every result of every tool over HTTP, both profiles, and shows code and hint', async () => {
    requireThirdPartyTools();
    const home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-inspector-'));
    const servers = await Promise.all(PROFILES.map((profile) => targets('http', profile)));
    try {
      const http = servers.map((s) => s.targets[2]!);
      const listed = await Promise.all(http.map((target) => inspectorTools(home, target)));
      const problems = listed.flatMap((tools) =>
        tools.filter((t) => !CASES[t]).map((t) => `${t}: no case in the matrix`),
      );
      // Cases that read an earlier case's result run once all the others have.
      const checks = (later: boolean) =>
        PROFILES.flatMap((profile, i) =>
          listed[i]!.flatMap((tool) =>
            (CASES[tool] ?? [])
              .filter((c) => (c.after !== undefined) === later)
              .map((c) => async () => {
                const p = await problem(() => inspectorCall(home, http[i]!, c.tool, c.args), c);
                return p && `inspector/http ${profile} ${label(c)}: ${p}`;
              }),
          ),
        );
      problems.push(...(await inPool(checks(false), INSPECTOR_PARALLEL)));
      problems.push(...(await inPool(checks(true), INSPECTOR_PARALLEL)));
      expect(listed[0]!.length).toBeGreaterThanOrEqual(15);
      expect(listed[1]!.length).toBeGreaterThanOrEqual(37);
      expect(problems).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);

  it('accepts a result of every tool over stdio, both profiles, and shows code and hint', async () => {
    requireThirdPartyTools();
    const home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-inspector-'));
    /** Over stdio every run is a fresh server: each gets its own data dir. */
    const fresh = async <T>(profile: Profile, run: (target: Target) => Promise<T>): Promise<T> => {
      const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-matrix-'));
      try {
        return await run({ kind: 'stdio', profile, dataDir });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    };
    try {
      const listed = await Promise.all(
        PROFILES.map((profile) => fresh(profile, (target) => inspectorTools(home, target))),
      );
      const problems: string[] = [];
      const checks = PROFILES.flatMap((profile, i) =>
        listed[i]!.map((tool) => async () => {
          const c = stdioCase(profile, tool);
          if (!c) return `${tool}: no case in the matrix`;
          const p = await fresh(profile, (target) =>
            problem(() => inspectorCall(home, target, c.tool, c.args), c),
          );
          return p && `inspector/stdio ${profile} ${label(c)}: ${p}`;
        }),
      );
      problems.push(...(await inPool(checks, INSPECTOR_PARALLEL)));
      expect(listed[0]!.length).toBeGreaterThanOrEqual(15);
      expect(listed[1]!.length).toBeGreaterThanOrEqual(37);
      expect(problems).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);
});
