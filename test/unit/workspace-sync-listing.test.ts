// The workspace listing a Docker volume box sends with a call's completion: src/agent/workspace_listing.py run by the
// real interpreter over real folders (the host's own view of the same folder is what it must say), and the checks the
// server puts it through (the message schemas, then the manifest's: one bad entry refuses the whole listing).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  hostManifest,
  MAX_ENTRIES,
  MAX_MANIFEST_BYTES,
  parseBoxManifest,
} from '../../src/sandbox/docker/workspace-manifest.js';
import {
  LaneMessageSchema,
  MAX_BOX_LINE_BYTES,
  MAX_INLINE_LISTING_CHARS,
  parseBoxLine,
} from '../../src/sandbox/protocol-schema.js';

const AGENT = resolve(import.meta.dirname, '../../src/agent');

/** Runs Python with the listing module imported as `w`; its stdout. */
function py(code: string, ...args: string[]): string {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-I',
      '-c',
      `import sys\nsys.path.insert(0, ${JSON.stringify(AGENT)})\nimport workspace_listing as w\n${code}`,
      ...args,
    ],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

/** The listing a completion would carry for `root` ('None' when the box gives none). */
function inline(root: string, extra = ''): string {
  return py(`t = w.inline(sys.argv[1]${extra})\nsys.stdout.write('None' if t is None else t)`, root);
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'listing-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("the box's listing module", () => {
  it('says what the host sees in the same folder: kinds, sizes, exact mtimes, link targets, parents first', () => {
    mkdirSync(join(root, 'a/b/c'), { recursive: true });
    writeFileSync(join(root, 'a/b/c/data.bin'), Buffer.alloc(1234));
    writeFileSync(join(root, 'top.txt'), 'héllo');
    writeFileSync(join(root, 'a/ünïcode name.txt'), 'x');
    symlinkSync('../top.txt', join(root, 'a/link'));
    symlinkSync('/etc', join(root, 'out'));
    execFileSync('mkfifo', [join(root, 'a/pipe')]);
    // the server's own temporary files are in neither side's listing
    writeFileSync(join(root, 'a/.sbx-0123456789abcdef.tmp'), 'half written');
    const text = inline(root);
    const box = parseBoxManifest(text);
    const host = hostManifest(root);
    expect(new Map([...box].sort())).toEqual(new Map([...host].sort()));
    expect(box.get('a/pipe')?.kind).toBe('o');
    expect(box.get('out')).toMatchObject({ kind: 'l', target: '/etc' });
    expect(box.has('a/.sbx-0123456789abcdef.tmp')).toBe(false);
    // the same text the exec path prints (one JSON array per line)
    expect(py('sys.stdout.write("".join(w.lines(sys.argv[1])))', root)).toBe(text);
  });

  it('walks a tree deeper than the recursion limit a cell may have set', () => {
    const deep = Array.from({ length: 300 }, () => 'd').join('/');
    mkdirSync(join(root, deep), { recursive: true });
    writeFileSync(join(root, deep, 'bottom.txt'), 'end');
    const text = py(
      'sys.setrecursionlimit(60)\nt = w.inline(sys.argv[1])\nsys.stdout.write("None" if t is None else t)',
      root,
    );
    expect(parseBoxManifest(text).get(`${deep}/bottom.txt`)?.size).toBe(3);
  });

  it('gives none past its size budget, or when the walk fails, so the server lists through exec', () => {
    for (let i = 0; i < 20; i++) writeFileSync(join(root, `file-${i}.txt`), '');
    expect(inline(root, ', max_bytes=200')).toBe('None');
    expect(inline(root, ', max_seconds=-1')).toBe('None');
    expect(py('w._dumps = None\nprint(w.inline(sys.argv[1]))', root)).toBe('None\n');
    expect(parseBoxManifest(inline(root)).size).toBe(20);
  });

  it('counts every entry it examines against its time, the ones it leaves out too', () => {
    // only the server's temporary names: none is listed, yet reading them takes time the walk must count
    for (let i = 0; i < 5000; i++)
      writeFileSync(join(root, `.sbx-${i.toString(16).padStart(16, '0')}.tmp`), '');
    expect(inline(root, ', max_seconds=1e-6')).toBe('None');
    expect(inline(root)).toBe('');
  });

  it('counts its size as escaped inside the completion, so the line around it stays under its cap', () => {
    // names of backslashes and quotes: each escaping doubles them
    for (let i = 0; i < 100; i++) writeFileSync(join(root, `${i}${'\\"'.repeat(120)}`), '');
    const text = inline(root);
    expect(parseBoxManifest(text).size).toBe(100);
    const escaped = JSON.stringify(text).length;
    expect(escaped).toBeGreaterThan(1.8 * text.length);
    // the cap is on the text as the completion's line holds it: exactly that fits, one byte less does not
    expect(inline(root, `, max_bytes=${escaped}`)).toBe(text);
    expect(inline(root, `, max_bytes=${escaped - 1}`)).toBe('None');
    expect(inline(root, `, max_bytes=${text.length + 1000}`)).toBe('None');
    // the default leaves room in the line for the rest of the completion, and the schema takes what it sends
    const cap = Number(py('print(w.INLINE_MAX_BYTES)'));
    expect(cap).toBeLessThanOrEqual(MAX_INLINE_LISTING_CHARS);
    expect(cap).toBeLessThanOrEqual(MAX_BOX_LINE_BYTES / 4);
  });

  it('leaves out what the host could not take, so the listing stays whole: names and link targets not UTF-8, long paths', () => {
    const notUtf8 = (dir: string) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff, 0x6f])]);
    writeFileSync(join(root, 'fine.txt'), '');
    writeFileSync(notUtf8(root), '');
    mkdirSync(Buffer.concat([notUtf8(root), Buffer.from('-dir')]));
    writeFileSync(Buffer.concat([notUtf8(root), Buffer.from('-dir/inside.txt')]), '');
    symlinkSync(Buffer.from([0x66, 0xff]), join(root, 'odd-link'));
    symlinkSync('fine.txt', join(root, 'good-link'));
    // a path over 4096 bytes, made and removed through relative steps (past PATH_MAX as one absolute path)
    const segs = Array.from({ length: 17 }, (_, n) => `${n}`.padEnd(250, 'x'));
    py(
      'import os\nos.chdir(sys.argv[1])\nfor s in sys.argv[2:]:\n os.mkdir(s); os.chdir(s)\n if s[0:2] == "15": open("short.txt", "w")',
      root,
      ...segs,
    );
    const text = inline(root);
    const box = parseBoxManifest(text);
    expect(box.get('fine.txt')?.kind).toBe('f');
    expect(box.get('good-link')).toMatchObject({ kind: 'l', target: 'fine.txt' });
    expect(box.has('odd-link')).toBe(false);
    expect(box.has(`${segs.slice(0, 16).join('/')}/short.txt`)).toBe(true);
    expect(box.has(segs.join('/'))).toBe(false);
    // the host leaves the long path out as well: a path one side lists and the other not would be deleted as gone
    const host = hostManifest(root);
    expect(host.has(`${segs.slice(0, 16).join('/')}/short.txt`)).toBe(true);
    expect(host.has(segs.join('/'))).toBe(false);
    expect([...box.keys()].every((k) => Buffer.byteLength(k) <= 4096)).toBe(true);
    expect([...box.keys()].some((k) => k.includes('inside.txt'))).toBe(false);
    // the exec path prints the same
    expect(py('sys.stdout.write("".join(w.lines(sys.argv[1])))', root)).toBe(text);
    py('import shutil\nshutil.rmtree(sys.argv[1])', join(root, segs[0] as string));
  });

  it('a box folder holding a name that is not UTF-8 still gives the host its other files', () => {
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/a.csv'), 'a');
    writeFileSync(join(root, 'data/b.csv'), 'bb');
    writeFileSync(
      Buffer.concat([Buffer.from(`${root}/data/`), Buffer.from([0xe9, 0x74, 0xe9])]),
      'latin-1 name',
    );
    const box = parseBoxManifest(inline(root));
    expect(box.get('data/a.csv')?.size).toBe(1);
    expect(box.get('data/b.csv')?.size).toBe(2);
    // both sides leave the same name where it is: the sync sees nothing to move for it
    expect(new Map([...box].sort())).toEqual(new Map([...hostManifest(root)].sort()));
  });

  it('removes what the exec path is asked to, never following a link', () => {
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'outside/keep.txt'), 'keep');
    mkdirSync(join(root, 'ws/dir'), { recursive: true });
    writeFileSync(join(root, 'ws/dir/f'), '');
    symlinkSync('../outside', join(root, 'ws/link'));
    py('w.remove(sys.argv[1], ["dir", "link", "absent"])', join(root, 'ws'));
    expect(hostManifest(join(root, 'ws')).size).toBe(0);
    expect(hostManifest(join(root, 'outside')).has('keep.txt')).toBe(true);
  });
});

describe('the checks a listing from a completion goes through', () => {
  const line = (...rec: unknown[]) => `${JSON.stringify(rec)}\n`;
  const done = (listing: unknown) =>
    JSON.stringify({ type: 'done', id: 'c1', status: 'ok', error: null, workspace_listing: listing });

  it("a cell's done carries a text or null, nothing else and nothing longer than the cap", () => {
    const check = (l: unknown) => parseBoxLine(LaneMessageSchema, done(l));
    expect(check(line('a', 'f', 1, '1')).ok).toBe(true);
    expect(check(null).ok).toBe(true);
    for (const bad of [5, [['a', 'f', 1, '1']], { a: 1 }, 'x'.repeat(MAX_INLINE_LISTING_CHARS + 1)]) {
      const r = check(bad);
      expect(r.ok, JSON.stringify(bad).slice(0, 40)).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/workspace_listing/);
    }
  });

  it('one bad entry refuses the whole listing, whatever good entries come with it (a forged one the listing leaves out too)', () => {
    const good = line('d', 'd', 0, '0') + line('d/f', 'f', 3, '17');
    expect(parseBoxManifest(good).size).toBe(2);
    const bad: Array<[string, RegExp]> = [
      [line('../escaped.txt', 'f', 1, '1'), /refused/],
      [line('/etc/passwd', 'f', 1, '1'), /refused/],
      [line('d/\ud800x', 'f', 1, '1'), /refused/],
      [line(`d/${'x'.repeat(4095)}`, 'f', 1, '1'), /refused/],
      [line('g', 'l', 1, '1', 'f\udcffo'), /link target/],
      [line('d//f', 'f', 1, '1'), /refused/],
      [line('d', 'd', 0, '0'), /repeated/],
      [line('e/f', 'f', 1, '1'), /before its folder/],
      [line('g', 'l', 1, '1'), /link target/],
      [line('g', 'f', 1.5, '1'), /size/],
      [line('g', 'f', 1, '1e3'), /mtime/],
      [line('g', 'f', 1, '1', 'extra', 'more'), /malformed/],
      ['{"not": "an array"}\n', /malformed/],
    ];
    for (const [entry, why] of bad) {
      expect(() => parseBoxManifest(good + entry), entry).toThrow(why);
      expect(() => parseBoxManifest(entry + good), entry).toThrow(why);
    }
  });

  it('more entries or bytes than the manifest limits refuse it', () => {
    const many = Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => line(`f${i}`, 'f', 0, '0')).join('');
    expect(() => parseBoxManifest(many)).toThrow(/more than/);
    const huge = line('a', 'f', 0, '0') + ' '.repeat(MAX_MANIFEST_BYTES);
    expect(() => parseBoxManifest(huge)).toThrow(/larger than/);
  });
});
