// End-to-end checks of the stdio transport: a spawned node process serving the tiny server to v1 and v2 SDK clients. Never rely on a stale build.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import type { Stream } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { PROGRESS_STEPS } from './fixtures/tiny-server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/tiny-stdio.mjs', import.meta.url));
const builtStdio = `${root}dist/src/server/stdio.js`;
const serverParams = { command: process.execPath, args: [fixture], cwd: root, stderr: 'pipe' as const };

/** Collects what the server wrote to stderr, so tests can see where console output went. */
function captureStderr(transport: { stderr: Stream | null }): () => string {
  let text = '';
  transport.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

async function v2Client(mode: 'auto' | 'legacy') {
  const transport = new StdioClientTransport(serverParams);
  const stderr = captureStderr(transport);
  const client = new Client({ name: 'v2-stdio-test', version: '1.0.0' }, { versionNegotiation: { mode } });
  const errors: Error[] = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  return { client, stderr, errors };
}

// Each test spawns its own server process, so they can overlap.
describe.concurrent('stdio transport', () => {
  beforeAll(() => {
    // The spawned process runs the compiled module, so a build older than the source would test old code.
    const source = `${root}src/server/stdio.ts`;
    if (!existsSync(builtStdio) || statSync(builtStdio).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(
        'dist/src/server/stdio.js is missing or older than its source: run `npm run build` first',
      );
    }
  });

  for (const [mode, version] of [
    ['auto', '2026-07-28'],
    ['legacy', '2025-11-25'],
  ] as const) {
    it(`serves a v2 client in the ${version} era: tools, echo, structuredContent, progress`, async () => {
      const { client, stderr, errors } = await v2Client(mode);
      try {
        expect(client.getNegotiatedProtocolVersion()).toBe(version);
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toContain('echo');
        const result = await client.callTool({ name: 'echo', arguments: { text: 'via stdio' } });
        expect(result.structuredContent).toEqual({ text: 'via stdio', length: 9, clientKey: 'stdio' });

        const progress: number[] = [];
        await client.callTool(
          { name: 'slow_progress', arguments: { steps: PROGRESS_STEPS } },
          { onprogress: (p) => progress.push(p.progress) },
        );
        expect(progress).toEqual([...Array(PROGRESS_STEPS).keys()]);
        expect(errors).toEqual([]);
        // console.log in the server process went to stderr, so stdout carried only protocol.
        expect(stderr()).toContain('console noise after start');
        expect(stderr()).toContain('factory clientKey=stdio transport=stdio');
      } finally {
        await client.close();
      }
    });
  }

  it('serves the v1 SDK client (2025-11-25 initialize handshake) with progress', async () => {
    const client = new V1Client({ name: 'v1-stdio-test', version: '1.0.0' });
    await client.connect(new V1StdioClientTransport(serverParams));
    try {
      expect(client.getServerVersion()).toEqual({ name: 'tiny', version: '1.0.0' });
      const result = await client.callTool({ name: 'echo', arguments: { text: 'v1' } });
      expect(result.structuredContent).toEqual({ text: 'v1', length: 2, clientKey: 'stdio' });
      const progress: number[] = [];
      await client.callTool({ name: 'slow_progress', arguments: { steps: 2 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      });
      expect(progress).toEqual([0, 1]);
    } finally {
      await client.close();
    }
  });

  it('writes every progress notification before the result, and exits when stdin closes', async () => {
    const child = spawn(process.execPath, [fixture], { cwd: root, stdio: ['pipe', 'pipe', 'ignore'] });
    const lines: string[] = [];
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const send = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
    /** Resolves at the output line that satisfies pred (checked again as each chunk arrives). */
    const waitFor = (pred: (line: string) => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!lines.some(pred)) return;
          child.stdout.off('data', check);
          resolve();
        };
        child.stdout.on('data', check);
        check();
      });

    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    await waitFor((l) => l.includes('"id":1'));
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'slow_progress', arguments: { steps: 2 }, _meta: { progressToken: 'p1' } },
    });
    await waitFor((l) => l.includes('"id":2'));

    const messages = lines.map((l) => JSON.parse(l) as { id?: number; method?: string });
    const resultIndex = messages.findIndex((m) => m.id === 2);
    const progressIndexes = messages.flatMap((m, i) => (m.method === 'notifications/progress' ? [i] : []));
    expect(progressIndexes).toHaveLength(2);
    expect(Math.max(...progressIndexes)).toBeLessThan(resultIndex);

    child.stdin.end();
    expect(await exited).toBe(0);
  });
});
