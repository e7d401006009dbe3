// End-to-end: every long answer is bounded and says how to get the rest — an execute that writes 3,000 files,
// list_artifacts and resources/list in pages, read_file by offset and length with its content only once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';

const FILES = 3000;
/** Far above what a bounded answer needs, far below what listing 3,000 files took (84 KB text, 868 KB structured). */
const BOUND = 64 * 1024;

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
const textOf = (r: { content: Array<{ type: string; text?: string }> }) =>
  r.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text ?? '')
    .join('\n');

describe('bounded results', () => {
  let h: Harness;
  let sid: string;
  let arrived: string;
  let made: Record<string, any>;
  let madeText: string;
  let madeBytes: number;

  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
    await h.sc('execute', { session_id: sid, code: 'open("before.txt", "w").write("old")' });
    await new Promise((r) => setTimeout(r, 20));
    arrived = new Date().toISOString();
    const r = await h.call('execute', {
      session_id: sid,
      code: `import os\nos.makedirs("many")\nfor i in range(${FILES}):\n    open(f"many/f{i:04}.txt", "w").write(str(i))`,
    });
    made = r.structuredContent as Record<string, any>;
    madeText = textOf(r);
    madeBytes = size(r);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('an execute that creates 3,000 files lists a bounded part and counts them all', () => {
    expect(made.status).toBe('ok');
    expect(madeBytes).toBeLessThan(BOUND);
    const a = made.artifacts;
    expect(a.counts).toEqual({ created: FILES, changed: 0, deleted: 0 });
    expect(a.created.length).toBeGreaterThan(0);
    expect(a.created.length).toBeLessThanOrEqual(100);
    expect(a.omitted).toBe(FILES - a.created.length);
    expect(a.more).toContain('list_artifacts');
    // The text is a short summary that names the count and the way to the rest, not the list again.
    expect(madeText.length).toBeLessThan(1000);
    expect(madeText).toContain(`created ${FILES}`);
    expect(madeText).toContain('list_artifacts');
  });

  it('following the result to list_artifacts pages gives exactly the created files', async () => {
    const since = /newer_than "([^"]+)"/.exec(made.artifacts.more)?.[1];
    expect(since).toBeDefined();
    expect(Date.parse(since!)).toBeGreaterThanOrEqual(Date.parse(arrived));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await h.call('list_artifacts', {
        session_id: sid,
        newer_than: since,
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      expect(size(r)).toBeLessThan(1024 * 1024);
      const sc = r.structuredContent as Record<string, any>;
      expect(sc.total_count).toBe(FILES);
      expect(sc.artifacts.length).toBeLessThanOrEqual(1000);
      seen.push(...sc.artifacts.map((x: { path: string }) => x.path));
      cursor = sc.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(FILES);
    expect(new Set(seen).size).toBe(FILES);
    expect(seen.every((p) => p.startsWith('many/'))).toBe(true);
  });

  it('list_artifacts answers in pages of 100 with a cursor, and refuses a forged cursor', async () => {
    const r = await h.call('list_artifacts', { session_id: sid });
    expect(size(r)).toBeLessThan(BOUND);
    const first = r.structuredContent as Record<string, any>;
    expect(first.total_count).toBe(FILES + 1);
    expect(first.artifacts).toHaveLength(100);
    expect(first.artifacts[0].path).toBe('before.txt');
    expect(typeof first.next_cursor).toBe('string');
    // The text counts and points on; the paths are in structuredContent only.
    const text = textOf(r);
    expect(text).toContain(`${FILES + 1} file(s)`);
    expect(text).toContain('next_cursor');
    expect(text).not.toContain('many/f0050.txt');
    const second = await h.sc('list_artifacts', { session_id: sid, cursor: first.next_cursor });
    expect(second.artifacts[0].path > first.artifacts[99].path).toBe(true);
    expect(second.artifacts).toHaveLength(100);
    const last = await h.sc('list_artifacts', { session_id: sid, glob: 'many/f29*', limit: 1000 });
    expect(last.artifacts).toHaveLength(100);
    expect(last.next_cursor).toBeNull();
    const bad = await h.call('list_artifacts', { session_id: sid, cursor: 'not-a-cursor' });
    expect(bad.isError).toBe(true);
    expect(errorOf(bad).code).toBe('invalid_argument');
  });

  it('read_file reads by offset and length, whole characters, and holds the content once', async () => {
    // 192 KB of text with two-byte characters, so ranges fall inside them.
    const line = 'é'.repeat(20) + 'abc\n';
    const body = line.repeat(Math.ceil((192 * 1024) / Buffer.byteLength(line)));
    await h.sc('write_file', { session_id: sid, path: 'big.txt', text: body });
    const r = await h.call('read_file', { session_id: sid, path: 'big.txt' });
    const sc = r.structuredContent as Record<string, any>;
    expect(sc.size).toBe(Buffer.byteLength(body));
    expect(sc.offset).toBe(0);
    expect(sc.length).toBeLessThanOrEqual(128 * 1024);
    expect(sc.next_offset).toBe(sc.length);
    expect(sc.truncated).toBe(true);
    // The content is in structuredContent; the text block is a line about it, so the result is not twice the file.
    const text = textOf(r);
    expect(text.length).toBeLessThan(500);
    expect(text).toContain(`offset ${sc.next_offset}`);
    expect(size(r)).toBeLessThan(sc.length * 1.2);

    let whole = '';
    let offset: number | null = 0;
    for (let i = 0; offset !== null && i < 200; i++) {
      const part = await h.sc('read_file', { session_id: sid, path: 'big.txt', offset, length: 1001 });
      expect(part.encoding).toBe('utf8');
      expect(part.offset).toBeGreaterThanOrEqual(offset);
      whole += part.text;
      offset = part.next_offset;
    }
    expect(whole).toBe(body);

    const mid = await h.sc('read_file', { session_id: sid, path: 'big.txt', offset: 1, length: 10 });
    expect(mid.offset).toBe(2); // moved past the cut 'é'
    expect(mid.text).toBe('é'.repeat(4));
    const end = await h.sc('read_file', { session_id: sid, path: 'big.txt', offset: sc.size });
    expect(end.text).toBe('');
    expect(end.next_offset).toBeNull();
    const past = await h.call('read_file', { session_id: sid, path: 'big.txt', offset: sc.size + 1 });
    expect(errorOf(past).code).toBe('invalid_argument');
  });

  it('resources/list answers in pages with nextCursor and lists every file once', async () => {
    // One page at a time, as the wire carries it (the SDK v2 client's listResources() walks them all itself).
    const page = (cursor?: string) =>
      h.client.request({ method: 'resources/list', params: cursor ? { cursor } : {} }) as Promise<{
        resources: Array<{ uri: string }>;
        nextCursor?: string;
      }>;
    const first = await page();
    expect(size(first)).toBeLessThan(BOUND);
    expect(first.resources.length).toBeLessThanOrEqual(100);
    expect(typeof first.nextCursor).toBe('string');
    const uris = first.resources.map((r) => r.uri);
    let cursor = first.nextCursor;
    for (let i = 0; cursor && i < 100; i++) {
      const next = await page(cursor);
      expect(next.resources.length).toBeLessThanOrEqual(100);
      uris.push(...next.resources.map((r) => r.uri));
      cursor = next.nextCursor;
    }
    expect(cursor).toBeUndefined();
    const files = uris.filter((u) => u.startsWith(`sandbox://sessions/${sid}/files/`));
    expect(new Set(uris).size).toBe(uris.length);
    expect(files).toHaveLength(FILES + 2); // before.txt, big.txt and the 3,000
    expect((await h.client.listResources()).resources.map((r) => r.uri)).toEqual(uris);
    await expect(page('forged')).rejects.toThrow(/cursor/);
  });
});
