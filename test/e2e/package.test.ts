// End-to-end: `npm pack` gives a tarball that installs into an empty folder and runs (doctor, then stdio).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the packed tarball', () => {
  let dir: string;
  let bin: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-pack-'));
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const tarball = join(dir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true}');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', tarball], {
      cwd: app,
      stdio: 'ignore',
      timeout: 400_000,
    });
    bin = join(app, 'node_modules', '.bin', 'sandbox-mcp');
  }, 420_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ships the in-box agent', () => {
    const pkg = join(dir, 'app', 'node_modules', 'sandbox-mcp', 'dist', 'src', 'agent');
    expect(existsSync(join(pkg, 'agent.py'))).toBe(true);
    expect(existsSync(join(pkg, 'kernel.py'))).toBe(true);
  });

  it('runs doctor', () => {
    const out = execFileSync(bin, ['doctor'], { encoding: 'utf8', timeout: 60_000 });
    expect(out).toMatch(/namespaces\s+yes/);
  });

  it('answers tools/list and runs code over stdio', async () => {
    const data = join(dir, 'data');
    const client = new Client({ name: 'pack-test', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: bin,
        args: ['--data-dir', data, '--pool-size', '0'],
        stderr: 'ignore',
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('execute');
      const r = await client.callTool({ name: 'execute', arguments: { code: '21 * 2' } });
      expect((r.structuredContent as any).result['text/plain']).toBe('42');
    } finally {
      await client.close();
    }
  });
});
