// Third-party checkers against our transports: the MCP Inspector CLI (stdio, HTTP, the config snippet) and the MCP conformance suite. Never download anything at run time.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfigSnippet, clientKeyForToken } from '../../src/server/auth.js';
import { startHttp, type HttpHandle } from '../../src/server/http.js';
import { createTinyServer } from './fixtures/tiny-server.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const inspectorBin = join(root, 'node_modules/.bin/mcp-inspector');
const conformanceJs = join(root, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const stdioFixture = fileURLToPath(new URL('./fixtures/tiny-stdio.mjs', import.meta.url));
const node20Preload = fileURLToPath(new URL('./fixtures/conformance-node20.mjs', import.meta.url));
const TOKEN = 'inspector-token-0123456789';

/** Scenarios that exercise what a tools-only server with logging and progress must do; they must pass. */
const APPLICABLE_SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'logging-set-level',
  'tools-call-with-progress',
  'dns-rebinding-protection',
];
/** Needs MCP sessions, which the stateless 2025 leg does not issue: it may warn, never fail. */
const WARN_ONLY_SCENARIOS = ['server-sse-multiple-streams'];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCli(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  try {
    const r = await run(file, args, { env, timeout: 45_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface ToolList {
  result: { tools: { name: string }[] };
}

describe('third-party clients', () => {
  let handle: HttpHandle;
  let home: string;

  beforeAll(async () => {
    for (const bin of [inspectorBin, conformanceJs]) {
      if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm install (they are devDependencies)`);
    }
    handle = await startHttp((client) => createTinyServer(client), {
      host: '127.0.0.1',
      port: 0,
      tokens: [TOKEN],
    });
    // The inspector keeps a catalog and client state under $HOME; a throwaway home keeps the real one clean.
    home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-inspector-'));
  });

  afterAll(async () => {
    await handle.close();
    rmSync(home, { recursive: true, force: true });
  });

  describe('MCP Inspector CLI', () => {
    const inspector = (args: string[]) =>
      runCli(inspectorBin, ['--cli', ...args, '--format', 'json'], { ...process.env, HOME: home });
    const auth = () => ['--header', `Authorization: Bearer ${TOKEN}`];

    it('lists tools over stdio, over HTTP in both eras, and through the printed client config', async () => {
      const snippet = join(home, 'client-config.json');
      writeFileSync(snippet, clientConfigSnippet(handle.url, TOKEN));
      const runs = await Promise.all([
        inspector(['node', stdioFixture, '--method', 'tools/list']),
        inspector(['--transport', 'http', '--server-url', handle.url, ...auth(), '--method', 'tools/list']),
        inspector([
          '--transport',
          'http',
          '--server-url',
          handle.url,
          ...auth(),
          '--protocol-era',
          'modern',
          '--method',
          'tools/list',
        ]),
        inspector(['--config', snippet, '--server', 'sandbox-mcp', '--method', 'tools/list']),
      ]);
      for (const r of runs) {
        expect(r.code, r.stderr).toBe(0);
        const names = (JSON.parse(r.stdout) as ToolList).result.tools.map((t) => t.name);
        expect(names).toContain('echo');
      }
    });

    it('calls echo over HTTP and gets structuredContent for the token', async () => {
      const r = await inspector([
        '--transport',
        'http',
        '--server-url',
        handle.url,
        ...auth(),
        '--method',
        'tools/call',
        '--tool-name',
        'echo',
        '--tool-arg',
        'text=from-inspector',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { result: { structuredContent: unknown } };
      expect(out.result.structuredContent).toEqual({
        text: 'from-inspector',
        length: 14,
        clientKey: clientKeyForToken(TOKEN),
      });
    });

    it('is refused without a token', async () => {
      const r = await inspector([
        '--transport',
        'http',
        '--server-url',
        handle.url,
        '--stored-auth-only',
        '--method',
        'tools/list',
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('auth_required');
    });
  });

  describe('MCP conformance suite', () => {
    let proxy: Server;
    let outDir: string;
    const results = new Map<string, { status: string; errorMessage?: string }[]>();

    beforeAll(async () => {
      // The suite cannot send headers, so a loopback proxy adds the token; Host and Origin pass through
      // untouched, so the rebinding scenario still reaches our own checks.
      proxy = createServer((req, res) => {
        const upstream = httpRequest(
          {
            host: '127.0.0.1',
            port: handle.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, authorization: `Bearer ${TOKEN}` },
          },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        res.on('close', () => upstream.destroy());
        req.pipe(upstream);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const url = `http://localhost:${(proxy.address() as AddressInfo).port}/mcp`;

      outDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-conformance-'));
      // The suite imports fs.globSync, which Node 20 lacks; the preload supplies a stub only where needed.
      const preload = 'globSync' in fs ? [] : ['--import', node20Preload];
      await runCli(
        process.execPath,
        [...preload, conformanceJs, 'server', '--url', url, '-o', outDir],
        process.env,
      );
      for (const dir of readdirSync(outDir)) {
        const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(dir)?.[1];
        if (scenario === undefined) continue;
        results.set(scenario, JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')));
      }
    }, 120_000);

    afterAll(async () => {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      rmSync(outDir, { recursive: true, force: true });
    });

    it.each(APPLICABLE_SCENARIOS)('passes %s', (scenario) => {
      const checks = results.get(scenario);
      expect(checks, `no results for ${scenario}`).toBeDefined();
      expect(checks?.filter((c) => c.status === 'FAILURE')).toEqual([]);
      expect(checks?.some((c) => c.status === 'SUCCESS')).toBe(true);
    });

    it.each(WARN_ONLY_SCENARIOS)('does not fail %s', (scenario) => {
      expect(results.get(scenario)?.filter((c) => c.status === 'FAILURE')).toEqual([]);
    });

    it('fails the other scenarios only for the fixtures they expect, never for the transport', () => {
      const others = [...results.keys()].filter(
        (s) => !APPLICABLE_SCENARIOS.includes(s) && !WARN_ONLY_SCENARIOS.includes(s),
      );
      expect(others.length).toBeGreaterThan(10);
      for (const scenario of others) {
        for (const check of results.get(scenario) ?? []) {
          if (check.status !== 'FAILURE') continue;
          expect(check.errorMessage, scenario).toMatch(/Method not found|Tool \S+ not found/);
        }
      }
    });
  });
});
