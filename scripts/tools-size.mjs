// Prints the size of tools/list for each tool profile (bytes and approximate tokens, at ~4 bytes a token).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const rows = [];
for (const profile of ['core', 'full']) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tools-size-'));
  const client = new Client({ name: 'size', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['dist/src/bin/sandbox-mcp.js', '--tools', profile, '--data-dir', dataDir, '--pool-size', '0'],
      stderr: 'ignore',
    }),
  );
  const { tools } = await client.listTools();
  const bytes = Buffer.byteLength(JSON.stringify({ tools }));
  rows.push({ profile, tools: tools.length, bytes, approx_tokens: Math.round(bytes / 4) });
  await client.close();
  rmSync(dataDir, { recursive: true, force: true });
}
console.log('| profile | tools | tools/list bytes | ≈ tokens |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.profile} | ${r.tools} | ${r.bytes} | ${r.approx_tokens} |`);
