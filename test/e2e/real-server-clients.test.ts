// Third-party clients against the real sandbox server: the MCP Inspector CLI (stdio, HTTP in both protocol
// eras) runs code through `execute`, and the MCP conformance suite checks the HTTP endpoint.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startHttpProcess } from './harness.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const inspectorBin = join(root, 'node_modules/.bin/mcp-inspector');
const conformanceJs = join(root, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const node20Preload = fileURLToPath(new URL('./fixtures/conformance-node20.mjs', import.meta.url));

/** The scenarios that apply to a tools-only server with logging; each must pass against the real server. */
const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'logging-set-level',
  'dns-rebinding-protection',
];

async function cli(file: string, args: string[], env: NodeJS.ProcessEnv) {
  try {
    const r = await run(file, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('real server with third-party clients', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let home: string;
  let stdioData: string;

  beforeAll(async () => {
    http = await startHttpProcess();
    home = mkdtempSync(join(tmpdir(), 'sandbox-mcp-inspector-'));
    stdioData = mkdtempSync(join(tmpdir(), 'sandbox-mcp-inspector-data-'));
  });

  afterAll(async () => {
    await http.stop();
    for (const d of [home, stdioData, http.dataDir]) rmSync(d, { recursive: true, force: true });
  });

  const inspector = (args: string[]) =>
    cli(inspectorBin, ['--cli', ...args, '--format', 'json'], { ...process.env, HOME: home });
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
    const proxy: Server = createServer((req, res) => {
      const target = new URL(http.url);
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: Number(target.port),
          method: req.method,
          path: req.url,
          headers: { ...req.headers, authorization: `Bearer ${http.token}` },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const outDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-conformance-'));
    try {
      const url = `http://localhost:${(proxy.address() as AddressInfo).port}/mcp`;
      const preload = 'globSync' in fs ? [] : ['--import', node20Preload];
      for (const scenario of SCENARIOS) {
        await cli(
          process.execPath,
          [...preload, conformanceJs, 'server', '--url', url, '--scenario', scenario, '-o', outDir],
          process.env,
        );
      }
      const results = new Map<string, Array<{ status: string }>>();
      for (const dir of readdirSync(outDir)) {
        const name =
          /^(server-.+?|ping|tools-list|logging-set-level|dns-rebinding-protection)-\d{4}-\d{2}-\d{2}T/.exec(
            dir,
          )?.[1];
        if (name)
          results.set(
            name.replace(/^server-(?!initialize)/, ''),
            JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')),
          );
      }
      for (const scenario of SCENARIOS) {
        const key = scenario.replace(/^server-(?!initialize)/, '');
        const checks = results.get(key) ?? results.get(`server-${key}`);
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
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 180_000);
});
