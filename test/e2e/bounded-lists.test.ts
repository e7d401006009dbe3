// End-to-end: the lists of backup, categorize and cleanup results and the text values of display bundles are
// bounded, say what they left out and how to get it, and the rest can be fetched, through the SDK 1.x client.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI, baseEnv } from './harness.js';

const FILES = 3000;
/** Paths of 51 characters: a list of 3,000 is 160 KB of JSON. */
const NAME = (i: string) => `many/a-file-named-long-enough-to-add-up-${i}.txt`;
/** Far above what a bounded answer needs, far below what a list of 3,000 paths takes. */
const BOUND = 64 * 1024;
const PAGE_MAX = 1000;

type Result = { content: Array<{ type: string; text?: string }>; structuredContent?: Record<string, any> };
const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

describe('bounded lists', () => {
  let client: V1Client;
  let dataDir: string;
  let sid: string;
  let manyCategory: string;

  /** The SDK 1.x client checks every structuredContent against the tool's output schema and throws when it fails. */
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<Result> => {
    const r = (await client.callTool({ name, arguments: { session_id: sid, ...args } })) as Result;
    if ((r as { isError?: boolean }).isError) throw new Error(`${name}: ${r.content[0]?.text ?? ''}`);
    return r;
  };
  const sc = async (name: string, args: Record<string, unknown> = {}) =>
    (await call(name, args)).structuredContent as Record<string, any>;

  /** Follows next_offset from offset 0 with the largest page, gathering what `pick` takes from each page. */
  const allPages = async <T>(
    name: string,
    args: Record<string, unknown>,
    pick: (p: Record<string, any>) => T[],
  ) => {
    const seen: T[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null && pages < 20) {
      const r = await call(name, { ...args, offset, limit: PAGE_MAX });
      expect(size(r)).toBeLessThan(1024 * 1024);
      const p = r.structuredContent as Record<string, any>;
      seen.push(...pick(p));
      expect(p.next_offset === null || p.next_offset > offset).toBe(true);
      offset = p.next_offset;
      pages++;
    }
    expect(offset).toBeNull();
    return seen;
  };

  /** What a bounded result says about what it left out: a count, and a way to the rest. */
  const expectBounded = (r: Result, shown: number, whole: number) => {
    expect(size(r)).toBeLessThan(BOUND);
    const s = r.structuredContent as Record<string, any>;
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThanOrEqual(100);
    expect(s.omitted).toBe(whole - shown);
    expect(typeof s.more).toBe('string');
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-test-'));
    client = new V1Client({ name: 'bounded-lists', version: '1.0.0' });
    await client.connect(
      new V1StdioClientTransport({
        command: process.execPath,
        args: [CLI, '--data-dir', dataDir, '--pool-size', '1', '--preload', 'none', '--tools', 'full'],
        env: baseEnv(),
        stderr: 'pipe',
      }),
    );
    await client.listTools();
    sid = ((await client.callTool({ name: 'create_session', arguments: {} })).structuredContent as any)
      .session_id;
    await sc('execute', { code: 'open("before.txt", "w").write("old")' });
    await sc('backup_current_artifacts', { backup_name: 'small' });
    await sc('execute', {
      code: `import os\nos.makedirs("many")\nfor i in range(${FILES}):\n    open(f"${NAME('{i:04}')}", "w").write(f"file {i}")`,
    });
    await sc('backup_current_artifacts', { backup_name: 'large' });
  }, 180_000);
  afterAll(async () => {
    await client?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('diff_backups of 3,000 added files lists a page, counts them all and pages through the rest', async () => {
    const r = await call('diff_backups', { a: 'small', b: 'large' });
    const d = r.structuredContent as Record<string, any>;
    expect(d.counts).toEqual({ added: FILES, changed: 0, deleted: 0 });
    expectBounded(r, d.added.length, FILES);
    expect(d.more).toContain('offset');
    expect(d.next_offset).toBe(d.added.length);
    const added = await allPages('diff_backups', { a: 'small', b: 'large' }, (p) => p.added as string[]);
    expect(added).toHaveLength(FILES);
    expect(new Set(added).size).toBe(FILES);
    expect(added.every((p) => p.startsWith('many/'))).toBe(true);
    const bad = (await client.callTool({
      name: 'diff_backups',
      arguments: { session_id: sid, a: 'small', b: 'large', limit: PAGE_MAX + 1 },
    })) as Result & { isError?: boolean };
    expect(bad.isError).toBe(true);
  });

  it('get_backup_details bounds the manifest and the workspace diff, and pages through both', async () => {
    const r = await call('get_backup_details', { backup_name: 'large' });
    const d = r.structuredContent as Record<string, any>;
    const items = Object.values(d.categories as Record<string, { files: number; items: unknown[] }>);
    const shown = items.reduce((n, c) => n + c.items.length, 0);
    expect(items.reduce((n, c) => n + c.files, 0)).toBe(FILES + 1);
    const diff = d.diff_vs_workspace;
    const listed =
      shown +
      d.folders.length +
      d.skipped.length +
      diff.added.length +
      diff.changed.length +
      diff.deleted.length;
    const { folders, skipped, added: a, changed, deleted } = d.counts;
    expectBounded(r, listed, FILES + 1 + folders + skipped + a + changed + deleted);
    expect(d.more).toContain('offset');
    const paths = await allPages('get_backup_details', { backup_name: 'large' }, (p) =>
      Object.values(p.categories as Record<string, { items: Array<{ path: string }> }>).flatMap((c) =>
        c.items.map((i) => i.path),
      ),
    );
    expect(paths).toHaveLength(FILES + 1);
    expect(new Set(paths).size).toBe(FILES + 1);

    // The older backup: 3,000 files were added to the workspace since.
    const old = await call('get_backup_details', { backup_name: 'small' });
    const o = old.structuredContent as Record<string, any>;
    expect(size(old)).toBeLessThan(BOUND);
    expect(o.counts.added).toBe(FILES);
    expect(o.diff_vs_workspace.added.length).toBeLessThanOrEqual(100);
    expect(o.omitted).toBeGreaterThan(0);
    const added = await allPages(
      'get_backup_details',
      { backup_name: 'small' },
      (p) => p.diff_vs_workspace.added,
    );
    expect(added).toHaveLength(FILES);
    expect(new Set(added).size).toBe(FILES);
  });

  it('categorize_artifacts of 3,000 files lists a page, counts each category and pages through the rest', async () => {
    const r = await call('categorize_artifacts');
    const c = r.structuredContent as Record<string, any>;
    expect(c.total_count).toBe(FILES + 1);
    const counts = c.counts as Record<string, number>;
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(FILES + 1);
    const shown = Object.values(c.categories as Record<string, string[]>).reduce((n, l) => n + l.length, 0);
    expectBounded(r, shown, FILES + 1);
    const text = r.content.map((b) => b.text ?? '').join('\n');
    expect(text.length).toBeLessThan(BOUND);
    const all = await allPages('categorize_artifacts', {}, (p) =>
      Object.entries(p.categories as Record<string, string[]>).flatMap(([cat, l]) =>
        l.map((x) => `${cat} ${x}`),
      ),
    );
    expect(all).toHaveLength(FILES + 1);
    expect(new Set(all).size).toBe(FILES + 1);
    manyCategory = all.find((x) => x.endsWith(` ${NAME('0000')}`))!.split(' ')[0]!;
    expect(all.filter((x) => x.includes(' many/')).every((x) => x.startsWith(`${manyCategory} `))).toBe(true);
  });

  it('a cleanup removing 3,000 files lists a bounded part and names the backup that lists them all', async () => {
    const r = await call('cleanup_artifacts_by_type', { artifact_type: manyCategory });
    const c = r.structuredContent as Record<string, any>;
    expect(c.removed_count).toBeGreaterThanOrEqual(FILES);
    expectBounded(r, c.removed.length, c.removed_count);
    expect(c.backup).toBeTruthy();
    expect(c.more).toContain(c.backup);
    expect(c.more).toContain('get_backup_details');
    // The rest: the backup taken before the cleanup lists every removed file as deleted since.
    const deleted = await allPages(
      'get_backup_details',
      { backup_name: c.backup },
      (p) => p.diff_vs_workspace.deleted,
    );
    expect(deleted).toHaveLength(c.removed_count);
    expect(new Set(deleted).size).toBe(c.removed_count);
    const listed = new Set(deleted);
    expect(c.removed.every((f: { path: string }) => listed.has(f.path))).toBe(true);
  });

  it('a backup skipping 3,000 fifos and a rollback removing them list a page and name the backup listing all', async () => {
    await sc('execute', {
      code: `import os\nos.makedirs("pipes")\nfor i in range(${FILES}):\n    os.mkfifo(f"pipes/a-fifo-named-long-enough-to-add-up-{i:04}")`,
    });
    const r = await call('backup_current_artifacts', { backup_name: 'pipes' });
    const b = r.structuredContent as Record<string, any>;
    expect(b.skipped_count).toBe(FILES);
    expectBounded(r, b.skipped.length, FILES);
    expect(b.more).toContain('get_backup_details of backup "pipes"');
    const skipped = await allPages('get_backup_details', { backup_name: 'pipes' }, (p) =>
      (p.skipped as Array<{ path: string }>).map((x) => x.path),
    );
    expect(skipped).toHaveLength(FILES);
    expect(new Set(skipped).size).toBe(FILES);

    const back = await call('rollback_to_backup', { backup_name: 'small' });
    const k = back.structuredContent as Record<string, any>;
    expect(k.not_backed_up_count).toBe(FILES);
    expectBounded(back, k.not_backed_up.length, FILES);
    expect(k.more).toContain(`get_backup_details of backup "${k.pre_rollback_backup}"`);
    const lost = await allPages('get_backup_details', { backup_name: k.pre_rollback_backup }, (p) =>
      (p.skipped as Array<{ path: string }>).map((x) => x.path),
    );
    expect(new Set(lost)).toEqual(new Set(skipped));
  });

  it('verify_backup with 3,000 missing blobs lists a page, counts them all and pages through the rest', async () => {
    const blobs = join(dataDir, 'blobs', 'sha256');
    for (const d of readdirSync(blobs)) rmSync(join(blobs, d), { recursive: true, force: true });
    const r = await call('verify_backup', { backup_name: 'large' });
    const v = r.structuredContent as Record<string, any>;
    expect(v.ok).toBe(false);
    expect(v.counts).toEqual({ missing: FILES + 1, corrupt: 0 });
    expectBounded(r, v.missing.length, FILES + 1);
    const missing = await allPages('verify_backup', { backup_name: 'large' }, (p) => p.missing as string[]);
    expect(missing).toHaveLength(FILES + 1);
    expect(new Set(missing).size).toBe(FILES + 1);
  });

  it('a 5 MB text/html display and a 5 MB final value come back cut, marked, with a notice', async () => {
    const code =
      "class H:\n    def _repr_html_(self):\n        return '<p>' + 'x' * 5_000_000 + '</p>'\n" +
      "display(H())\n'y' * 5_000_000";
    const r = await call('execute', { code });
    const e = r.structuredContent as Record<string, any>;
    expect(e.status).toBe('ok');
    expect(size(r)).toBeLessThan(1024 * 1024);
    const html = e.displays[0]['text/html'] as string;
    expect(html.startsWith('<p>xxx')).toBe(true);
    expect(html).toMatch(/cut/);
    expect(html).toContain('5000007');
    const plain = e.result['text/plain'] as string;
    expect(plain.startsWith("'yyy")).toBe(true);
    expect(plain).toMatch(/cut/);
    const notices = (e.notices as string[]).join('\n');
    expect(notices).toContain("displays[0]['text/html']");
    expect(notices).toContain("result['text/plain']");
    // Many displays: at most 100 are kept, their values share one budget, and notices say what was left out.
    const many = await call('execute', {
      code: "class M:\n    def _repr_html_(self):\n        return 'm' * 100_000\nfor _ in range(300):\n    display(M())",
    });
    const m = many.structuredContent as Record<string, any>;
    expect(size(many)).toBeLessThan(2 * 1024 * 1024);
    expect(m.displays).toHaveLength(100);
    const mNotices = (m.notices as string[]).join('\n');
    expect(mNotices).toContain('300 displays');
    expect(mNotices).toMatch(/more display values were cut/);
    // A small value is untouched.
    const small = await sc('execute', {
      code: "display(type('S', (), {'_repr_html_': lambda s: '<b>hi</b>'})())",
    });
    expect(small.displays[0]['text/html']).toBe('<b>hi</b>');
  });
});
