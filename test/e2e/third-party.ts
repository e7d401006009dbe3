// Shared set-up for the third-party checkers (MCP Inspector CLI, MCP conformance suite): runners, token proxy, results.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const inspectorBin = join(root, 'node_modules/.bin/mcp-inspector');
const conformanceJs = join(root, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const node20Preload = fileURLToPath(new URL('./fixtures/conformance-node20.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One check in a conformance scenario's checks.json. */
export interface ConformanceCheck {
  status: string;
  errorMessage?: string;
}

/** Fails early with a clear message when the devDependencies are missing; nothing is downloaded at run time. */
export function requireThirdPartyTools(): void {
  for (const bin of [inspectorBin, conformanceJs]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm install (they are devDependencies)`);
  }
}

/**
 * Runs a command to completion and never throws: a non-zero exit becomes `code`. The limit stays under
 * vitest's 60 s test timeout, so a hung tool reports its output instead of a bare test timeout.
 */
export async function runCli(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  try {
    const r = await run(file, args, { env, timeout: 45_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `mcp-inspector --cli ... --format json` with HOME set to `home`, where it keeps its catalog and client state. */
export function runInspector(home: string, args: string[]): Promise<CliResult> {
  return runCli(inspectorBin, ['--cli', ...args, '--format', 'json'], { ...process.env, HOME: home });
}

/** Runs the conformance suite (one scenario, or the active suite) against `url`, writing results under `outDir`. */
export function runConformance(url: string, outDir: string, scenario?: string): Promise<CliResult> {
  // The suite imports fs.globSync, which Node 20 lacks; the preload supplies a stub only where needed.
  const preload = 'globSync' in fs ? [] : ['--import', node20Preload];
  const only = scenario === undefined ? [] : ['--scenario', scenario];
  return runCli(
    process.execPath,
    [...preload, conformanceJs, 'server', '--url', url, ...only, '-o', outDir],
    process.env,
  );
}

/**
 * The checks of every scenario under `outDir`, keyed by scenario name. The suite names each result
 * directory `server-<scenario>-<ISO time>`, e.g. `server-ping-2025-…` or `server-server-initialize-2025-…`.
 */
export function readConformanceChecks(outDir: string): Map<string, ConformanceCheck[]> {
  const results = new Map<string, ConformanceCheck[]>();
  for (const dir of readdirSync(outDir)) {
    const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(dir)?.[1];
    if (scenario === undefined) continue;
    results.set(scenario, JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')));
  }
  return results;
}

export interface TokenProxy {
  /** The proxied MCP endpoint on http://localhost:<port>, same path as upstream. */
  url: string;
  close(): Promise<void>;
}

/**
 * A loopback proxy that adds `Authorization: Bearer <token>` for clients that cannot send headers (the
 * conformance suite). Host and Origin pass through untouched, so rebinding checks still reach the server's own.
 */
export async function startTokenProxy(upstreamUrl: string, token: string): Promise<TokenProxy> {
  const target = new URL(upstreamUrl);
  const proxy = createServer((req, res) => {
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: Number(target.port),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, authorization: `Bearer ${token}` },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    // A client that hangs up (e.g. on an SSE stream) must not leave the upstream request open.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://localhost:${(proxy.address() as AddressInfo).port}${target.pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        proxy.closeAllConnections();
      }),
  };
}
