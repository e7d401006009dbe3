// Third-party clients against the real sandbox server: the MCP Inspector CLI (stdio, HTTP in both protocol
// eras) runs code through `execute`, and the MCP conformance suite checks the HTTP endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startHttpProcess } from './harness.js';
import {
  readConformanceChecks,
  requireThirdPartyTools,
  runConformance,
  runInspector,
  startTokenProxy,
} from './third-party.js';

/** The scenarios that apply to a tools server (no logging capability); each must pass against the real server. */
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

describe('real server with third-party clients', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let home: string;
  let stdioData: string;

  beforeAll(async () => {
    requireThirdPartyTools();
    http = await startHttpProcess();
    home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-inspector-'));
    stdioData = mkdtempSync(join(tmpdir(), 'sandbox-mcp-inspector-data-'));
  });

  afterAll(async () => {
    await http.stop();
    for (const d of [home, stdioData, http.dataDir]) rmSync(d, { recursive: true, force: true });
  });

  const inspector = (args: string[]) => runInspector(home, args);
  const overHttp = (era: 'legacy' | 'modern') => [
    '--transport',
    'http',
    '--server-url',
    http.url,
    '--header',
    `Authorization: Bearer ${http.token}`,
    ...(era === 'modern' ? ['--protocol-era', 'modern'] : []),
  ];
  const executeArgs = ['--method', 'tools/call', '--tool-name', 'execute', '--tool-arg', 'code=6 * 7'];

  it('runs code through the Inspector over stdio and over HTTP in both eras', async () => {
    const runs = await Promise.all([
      inspector([process.execPath, CLI, '--data-dir', stdioData, '--pool-size', '0', ...executeArgs]),
      inspector([...overHttp('legacy'), ...executeArgs]),
      inspector([...overHttp('modern'), ...executeArgs]),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        result: { structuredContent: { status: string; result: Record<string, string> } };
      };
      expect(out.result.structuredContent.status).toBe('ok');
      expect(out.result.structuredContent.result['text/plain']).toBe('42');
    }
  });

  it('passes the conformance scenarios that apply to it', async () => {
    // The suite cannot send headers: a loopback proxy adds the token and passes Host and Origin through.
    const proxy = await startTokenProxy(http.url, http.token);
    const outDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-conformance-'));
    try {
      for (const scenario of SCENARIOS) await runConformance(proxy.url, outDir, scenario);
      const results = readConformanceChecks(outDir);
      for (const scenario of SCENARIOS) {
        const checks = results.get(scenario);
        expect(checks, `no results for ${scenario}: ${[...results.keys()].join(', ')}`).toBeDefined();
        expect(
          checks!.filter((c) => c.status === 'FAILURE'),
          scenario,
        ).toEqual([]);
        expect(
          checks!.some((c) => c.status === 'SUCCESS'),
          scenario,
        ).toBe(true);
      }
    } finally {
      await proxy.close();
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 180_000);
});
