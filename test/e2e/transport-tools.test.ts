// Third-party checkers against our transports: the MCP Inspector CLI (stdio, HTTP, the config snippet) and the MCP conformance suite. Never download anything at run time.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfigSnippet, clientKeyForToken } from '../../src/server/auth.js';
import { startHttp, type HttpHandle } from '../../src/server/http.js';
import { createTinyServer } from './fixtures/tiny-server.mjs';
import {
  readConformanceChecks,
  requireThirdPartyTools,
  runConformance,
  runInspector,
  startTokenProxy,
  type ConformanceCheck,
  type TokenProxy,
} from './third-party.js';

const stdioFixture = fileURLToPath(new URL('./fixtures/tiny-stdio.mjs', import.meta.url));
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

interface ToolList {
  result: { tools: { name: string }[] };
}

describe('third-party clients', () => {
  let handle: HttpHandle;
  let home: string;

  beforeAll(async () => {
    requireThirdPartyTools();
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
    const inspector = (args: string[]) => runInspector(home, args);
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
    let proxy: TokenProxy;
    let outDir: string;
    let results = new Map<string, ConformanceCheck[]>();

    beforeAll(async () => {
      // The suite cannot send headers; the proxy adds the token and leaves Host and Origin to our own checks.
      proxy = await startTokenProxy(handle.url, TOKEN);
      outDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-conformance-'));
      await runConformance(proxy.url, outDir);
      results = readConformanceChecks(outDir);
    }, 120_000);

    afterAll(async () => {
      await proxy?.close();
      if (outDir) rmSync(outDir, { recursive: true, force: true });
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
