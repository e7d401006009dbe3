// Over Streamable HTTP the plain-JSON answer for 2025-era calls is decided before the SDK sees a request: a body or
// header that speaks the 2026-07-28 era, or a malformed one, still gets the SDK's own answer, never a plain one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpProcess } from './harness.js';

describe('era routing of plain HTTP calls', () => {
  let proc: Awaited<ReturnType<typeof startHttpProcess>>;

  beforeAll(async () => {
    proc = await startHttpProcess();
  });
  afterAll(async () => {
    await proc?.stop();
  });

  async function post(headers: Record<string, string>, body: unknown) {
    const res = await fetch(proc.url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${proc.token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
  }

  const call = (id: number, meta?: Record<string, unknown>) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'list_sessions', arguments: {}, ...(meta && { _meta: meta }) },
  });

  it('a 2026-07-28 header on a call without the envelope gets the invalid-params answer naming what is missing', async () => {
    const res = await post({ 'mcp-protocol-version': '2026-07-28' }, call(1));
    expect(res.status).toBe(400);
    const answer = JSON.parse(res.body) as { id: unknown; error?: { code: number; message: string } };
    expect(answer.error?.code).toBe(-32602);
    expect(answer.error?.message).toMatch(/envelope/);
  });

  it('a call claiming the 2026-07-28 envelope with a bad one is refused by the envelope check', async () => {
    const res = await post({}, call(2, { 'io.modelcontextprotocol/protocolVersion': 42 }));
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body) as { error?: { code: number } }).error?.code).toBe(-32602);
  });

  it('a body that is not JSON-RPC gets the SDK invalid-request answer', async () => {
    const res = await post({ 'mcp-protocol-version': '2025-11-25' }, { id: 3, method: 'tools/call' });
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body) as { error?: { code: number } }).error?.code).toBe(-32600);
  });

  it('a 2025-era call without a version header is answered plainly, and so is one naming 2025-06-18', async () => {
    const variants: Array<Record<string, string>> = [{}, { 'mcp-protocol-version': '2025-06-18' }];
    for (const headers of variants) {
      const res = await post(headers, call(4));
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^application\/json/);
      expect((JSON.parse(res.body) as { id: number; result?: unknown }).result).toBeDefined();
    }
  });
});
