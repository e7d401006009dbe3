// End-to-end: `npm pack` gives a tarball that installs into an empty folder and runs (doctor, then stdio).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The one dependency the server loads that needs an install script: better-sqlite3's native addon, compiled from
 * source here (several minutes on a busy two-core machine). The consumer's install skips install scripts and takes
 * the addon this checkout already compiled for this Node, when it is the same version of the package; otherwise it
 * builds it as npm would have.
 */
function provideSqliteAddon(app: string): void {
  const pkg = (root: string) => join(root, 'node_modules', 'better-sqlite3');
  const version = (root: string) =>
    (JSON.parse(readFileSync(join(pkg(root), 'package.json'), 'utf8')) as { version: string }).version;
  const addon = (root: string) => join(pkg(root), 'build', 'Release', 'better_sqlite3.node');
  if (existsSync(addon(ROOT)) && version(ROOT) === version(app)) {
    mkdirSync(dirname(addon(app)), { recursive: true });
    copyFileSync(addon(ROOT), addon(app));
    return;
  }
  execFileSync('npm', ['rebuild', 'better-sqlite3'], { cwd: app, stdio: 'ignore', timeout: 400_000 });
}

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
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true}');
    // Dependencies are resolved from the tarball's package.json as for any user, from npm's cache where it has them.
    execFileSync(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball],
      { cwd: app, stdio: 'ignore', timeout: 300_000 },
    );
    provideSqliteAddon(app);
    bin = join(app, 'node_modules', '.bin', 'sandbox-mcp');
  }, 720_000);
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
