// The real server over Streamable HTTP takes the write_file sizes its description promises (25 MiB, as base64 or as
// text); a request larger than the transport's limit is refused with an error that names that limit.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startHttp, type Harness } from './harness.js';

const MiB = 1024 * 1024;

describe('request bodies over HTTP', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startHttp({ args: ['--pool-size', '0'] });
    sid = (await h.sc('create_session', {})).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  const onDisk = (path: string) => readFileSync(join(h.dataDir, 'sessions', sid, 'workspace', path));
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('writes a 25 MiB binary file sent as base64', async () => {
    const data = randomBytes(25 * MiB);
    const r = await h.call('write_file', {
      session_id: sid,
      path: 'big.bin',
      base64: data.toString('base64'),
    });
    expect(r.isError ?? false).toBe(false);
    expect((r.structuredContent as any).artifact.size).toBe(data.length);
    expect(sha(onDisk('big.bin'))).toBe(sha(data));
  });

  it('writes 24 MB of text', async () => {
    const text = 'line of text, plain ASCII\n'.repeat(Math.floor((24 * 1000 * 1000) / 26));
    const r = await h.call('write_file', { session_id: sid, path: 'big.txt', text });
    expect(r.isError ?? false).toBe(false);
    expect(onDisk('big.txt').length).toBe(text.length);
  });

  it('refuses content over 25 MiB with invalid_argument naming the limit', async () => {
    const r = await h.call('write_file', {
      session_id: sid,
      path: 'over.bin',
      base64: Buffer.alloc(25 * MiB + 1).toString('base64'),
    });
    const err = errorOf(r);
    expect(err.code).toBe('invalid_argument');
    expect(JSON.stringify(err)).toMatch(/25 MiB|26214400/);
  });

  it('answers a body over the transport limit with an error that names the limit', async () => {
    const res = await fetch(h.url!, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'write_file', arguments: { path: 'x.txt', text: 'x'.repeat(40 * MiB) } },
      }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as {
      error: { code: number; message: string; data?: Record<string, number> };
    };
    expect(body.error.message).toMatch(/\d+ MiB/);
    expect(body.error.data?.limit_bytes).toBeGreaterThanOrEqual(Math.ceil((25 * MiB) / 3) * 4);
    expect(body.error.message).toContain('base64');
  });
});
