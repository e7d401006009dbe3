// The hostile tar a box's engine may hand back, applied to a real folder: names that climb out or are absolute, links
// and devices in place of files, sizes over the caps, forged PAX and GNU names, broken checksums and cut archives. Nothing
// lands outside the workspace, a refused entry leaves the host file as it was, and the writer's archives read back.
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dir } from '../../src/fsafe/dir.js';
import { DirCache } from '../../src/fsafe/files.js';
import {
  linkStaysInside,
  parseBoxManifest,
  type ManifestEntry,
} from '../../src/sandbox/docker/workspace-manifest.js';
import { applyTar, entryRel, type ApplyOutcome } from '../../src/sandbox/docker/workspace-sync-apply.js';
import { argChunks, fetchUnits, topmost } from '../../src/sandbox/docker/workspace-sync.js';
import { packTar, readTar, type PackEntry } from '../../src/sandbox/docker/workspace-tar.js';

/** One raw ustar header, written here independently of the writer under test. */
function header(
  name: string,
  typeflag: string,
  size: number,
  linkname = '',
  opts: { badSum?: boolean } = {},
): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write(linkname, 157, 'utf8');
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  if (opts.badSum) sum += 1;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function data(body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

function pax(records: Record<string, string>): Buffer {
  const body = Buffer.concat(
    Object.entries(records).map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(rest) + 2;
      if (String(len).length + Buffer.byteLength(rest) !== len)
        len = String(len + 1).length + Buffer.byteLength(rest);
      return Buffer.from(`${len}${rest}`);
    }),
  );
  return Buffer.concat([header('PaxHeader', 'x', body.length), data(body)]);
}

/** A regular file's header and its padded body. */
function fileEntry(name: string, body: Buffer | string): Buffer {
  return Buffer.concat([header(name, '0', Buffer.byteLength(body)), data(body)]);
}

const end = () => Buffer.alloc(1024);
const file = (rel: string, size: number): [string, ManifestEntry] => [rel, { kind: 'f', size, mtimeNs: '1' }];

let base: string;
let ws: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sync-tar-'));
  ws = join(base, 'workspace');
  outside = join(base, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

async function apply(
  tar: Buffer | AsyncIterable<Buffer>,
  unit: string,
  wanted: Array<[string, ManifestEntry]>,
  budget = { fileBytes: 1 << 20, remaining: 1 << 30 },
): Promise<{ out: ApplyOutcome; err: unknown }> {
  const root = Dir.openPath(ws);
  const dirs = new DirCache(root);
  const out: ApplyOutcome = { written: new Map(), refused: new Map() };
  let err: unknown = null;
  try {
    // delivered in odd-sized pieces, as a network stream would
    const pieces = Buffer.isBuffer(tar)
      ? (async function* () {
          for (let i = 0; i < tar.length; i += 700) yield tar.subarray(i, i + 700);
        })()
      : tar;
    const wireCap = Buffer.isBuffer(tar) ? tar.length + 1 : 1 << 30;
    await applyTar(pieces, unit, new Map(wanted), dirs, budget, wireCap, out);
  } catch (e) {
    err = e;
  } finally {
    dirs.close();
    root.close();
  }
  return { out, err };
}

async function packed(entries: PackEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packTar(
    (async function* () {
      yield* entries;
    })(),
  ))
    chunks.push(c);
  return Buffer.concat(chunks);
}

function everythingUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

describe('a hostile archive from the box', () => {
  it('writes only the wanted files, never a name that climbs out or is absolute', async () => {
    const tar = Buffer.concat([
      fileEntry('workspace/ok.txt', 'ok'),
      fileEntry('/etc/evil', 'evil'),
      fileEntry('workspace/../outside/evil', 'evil'),
      fileEntry('../outside/evil2', 'evil'),
      fileEntry('workspace/a/../../outside/evil3', 'evil'),
      fileEntry('workspace/..evil', 'dots'),
      end(),
    ]);
    const { out, err } = await apply(tar, '', [file('ok.txt', 2), file('..evil', 4)]);
    expect(err).toBeNull();
    expect([...out.written.keys()].sort()).toEqual(['..evil', 'ok.txt']);
    expect(readFileSync(join(ws, '..evil'), 'utf8')).toBe('dots');
    expect(everythingUnder(outside)).toEqual([]);
    expect(everythingUnder(ws)).toEqual(['..evil', 'ok.txt']);
  });

  it('forged PAX and GNU long names that climb out are not written', async () => {
    const tar = Buffer.concat([
      pax({ path: '../outside/pax-evil' }),
      fileEntry('workspace/innocent.txt', 'evil'),
      header('././@LongLink', 'L', 30),
      data('workspace/../outside/gnu-evil\0'),
      fileEntry('workspace/innocent2.txt', 'evil'),
      end(),
    ]);
    const { out } = await apply(tar, '', [file('innocent.txt', 4), file('innocent2.txt', 4)]);
    expect(out.written.size).toBe(0);
    expect(everythingUnder(outside)).toEqual([]);
    expect(everythingUnder(ws)).toEqual([]);
  });

  it('a link, hard link or device in place of a wanted file is refused, and the host file stays', async () => {
    writeFileSync(join(ws, 'a.txt'), 'host a');
    writeFileSync(join(ws, 'b.txt'), 'host b');
    writeFileSync(join(ws, 'c.txt'), 'host c');
    const tar = Buffer.concat([
      header('workspace/a.txt', '2', 0, '/etc/passwd'),
      header('workspace/b.txt', '1', 0, '/etc/passwd'),
      header('workspace/c.txt', '3', 0),
      end(),
    ]);
    const { out } = await apply(tar, '', [file('a.txt', 1), file('b.txt', 1), file('c.txt', 1)]);
    expect(out.written.size).toBe(0);
    expect([...out.refused.keys()].sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    for (const n of ['a', 'b', 'c']) {
      expect(lstatSync(join(ws, `${n}.txt`)).isFile()).toBe(true);
      expect(readFileSync(join(ws, `${n}.txt`), 'utf8')).toBe(`host ${n}`);
    }
  });

  it('a file over the size limit, or over what the disk may take, is refused and the host file stays', async () => {
    writeFileSync(join(ws, 'big.bin'), 'old');
    const big = Buffer.alloc(3000, 7);
    const tar = Buffer.concat([
      fileEntry('workspace/big.bin', big),
      fileEntry('workspace/fits.bin', Buffer.alloc(1000, 1)),
      fileEntry('workspace/second.bin', Buffer.alloc(1000, 2)),
      end(),
    ]);
    const { out } = await apply(
      tar,
      '',
      [file('big.bin', 3000), file('fits.bin', 1000), file('second.bin', 1000)],
      {
        fileBytes: 2048,
        remaining: 1500,
      },
    );
    expect(readFileSync(join(ws, 'big.bin'), 'utf8')).toBe('old');
    expect(out.refused.get('big.bin')).toMatch(/file limit/);
    expect(readFileSync(join(ws, 'fits.bin')).length).toBe(1000);
    expect(out.refused.get('second.bin')).toMatch(/disk/);
    expect(everythingUnder(ws)).toEqual(['big.bin', 'fits.bin']);
  });

  it('a header claiming 8 GiB is not held: its body reaches the file as it comes, and the cut leaves nothing', async () => {
    const mib = Buffer.alloc(1 << 20, 5);
    let onDiskMidway = 0;
    const body = async function* () {
      yield header('workspace/huge.bin', '0', 8 * 1024 ** 3);
      for (let i = 1; i <= 32; i++) {
        yield mib;
        if (i === 16) for (const n of readdirSync(ws)) onDiskMidway += lstatSync(join(ws, n)).size; // the temporary file
      }
    };
    const { out, err } = await apply(body(), '', [file('huge.bin', 8 * 1024 ** 3)], {
      fileBytes: 16 * 1024 ** 3,
      remaining: 16 * 1024 ** 3,
    });
    expect(onDiskMidway).toBeGreaterThanOrEqual(8 << 20);
    expect(String(err)).toMatch(/not a valid tar stream/);
    expect(out.written.size).toBe(0);
    expect(everythingUnder(ws)).toEqual([]);
  });

  it('a bad checksum, an oversized PAX record or an archive cut inside an entry stops it; the host file stays', async () => {
    writeFileSync(join(ws, 'x.txt'), 'host x');
    const broken = [
      Buffer.concat([header('workspace/x.txt', '0', 4, '', { badSum: true }), data('evil'), end()]),
      Buffer.concat([
        header('PaxHeader', 'x', 5 << 20),
        Buffer.alloc(6 << 20),
        fileEntry('workspace/x.txt', 'evil'),
      ]),
      Buffer.concat([header('workspace/x.txt', '0', 4000), Buffer.alloc(1000, 9)]),
    ];
    for (const tar of broken) {
      const { out, err } = await apply(tar, '', [file('x.txt', 4)]);
      expect(String(err)).toMatch(/not a valid tar stream/);
      expect(out.written.size).toBe(0);
    }
    expect(readFileSync(join(ws, 'x.txt'), 'utf8')).toBe('host x');
    expect(everythingUnder(ws)).toEqual(['x.txt']);
  });

  it('a folder header claiming a size does not stall the reading', async () => {
    const tar = Buffer.concat([header('workspace/d', '5', 4096), fileEntry('workspace/ok.txt', 'ok'), end()]);
    const { out, err } = await apply(tar, '', [file('ok.txt', 2)]);
    expect(err).toBeNull();
    expect(readFileSync(join(ws, 'ok.txt'), 'utf8')).toBe('ok');
    expect([...out.written.keys()]).toEqual(['ok.txt']);
  });

  it('a wanted file whose host folder was made a link out is not written through it', async () => {
    symlinkSync(outside, join(ws, 'sub'));
    const tar = Buffer.concat([fileEntry('workspace/sub/f.txt', 'evil'), end()]);
    const { out } = await apply(tar, '', [file('sub/f.txt', 4)]);
    expect(out.written.size).toBe(0);
    expect(everythingUnder(outside)).toEqual([]);
  });

  it('a host file that is a link is replaced, never written through', async () => {
    writeFileSync(join(outside, 'target'), 'outside stays');
    symlinkSync(join(outside, 'target'), join(ws, 'f.txt'));
    const tar = Buffer.concat([fileEntry('f.txt', 'new'), end()]);
    const { out } = await apply(tar, 'f.txt', [file('f.txt', 3)]);
    expect(out.written.has('f.txt')).toBe(true);
    expect(lstatSync(join(ws, 'f.txt')).isFile()).toBe(true);
    expect(readFileSync(join(ws, 'f.txt'), 'utf8')).toBe('new');
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('outside stays');
  });
});

describe('names, links and manifests', () => {
  it('maps entry names of a fetched unit to workspace paths, refusing the rest', () => {
    expect(entryRel('', 'workspace/a/b.txt')).toBe('a/b.txt');
    expect(entryRel('', 'workspace')).toBeNull();
    expect(entryRel('', 'other/a')).toBeNull();
    expect(entryRel('', 'workspace/../x')).toBeNull();
    expect(entryRel('d/f.txt', 'f.txt')).toBe('d/f.txt');
    expect(entryRel('d', 'd/e/f')).toBe('d/e/f');
    expect(entryRel('d', '/d/e')).toBeNull();
  });

  it('keeps only links that stay inside whatever other links they pass through', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a', 'b', true],
      ['sub/inside', '../precious/keep.txt', true],
      ['etc', '/etc', false],
      ['up', '../../..', false],
      ['a', '..', false],
      ['sub/sneaky', '../sub/../..', false],
      ['sub/x', 'd/..', false],
      // a virtualenv's interpreter, and nothing else under /usr
      ['.venv/bin/python', '/usr/bin/python3', true],
      ['.venv/bin/python3.11', '/usr/bin/python3.11', true],
      ['.venv/lib/x', '/usr/bin/python3', false],
      ['.venv/bin/python', '/usr/bin/../../etc/passwd', false],
      ['.venv/bin/python', '/usr/lib', false],
    ];
    for (const [rel, target, inside] of cases)
      expect(linkStaysInside(rel, target), `${rel} -> ${target}`).toBe(inside);
  });

  it('refuses a manifest line that names a path out, a repeat, or an entry before its folder', () => {
    const line = (...rec: unknown[]) => `${JSON.stringify(rec)}\n`;
    expect(() => parseBoxManifest(line('../x', 'f', 1, '1'))).toThrow(/refused/);
    expect(() => parseBoxManifest(line('/etc/passwd', 'f', 1, '1'))).toThrow(/refused/);
    expect(() => parseBoxManifest(line('a/./b', 'f', 1, '1'))).toThrow(/refused/);
    expect(() => parseBoxManifest(line('a/b', 'f', 1, '1'))).toThrow(/before its folder/);
    expect(() => parseBoxManifest(line('a', 'f', 1, '1') + line('a', 'f', 1, '1'))).toThrow(/repeated/);
    expect(() => parseBoxManifest(line('a', 'f', -1, '1'))).toThrow(/size/);
    expect(() => parseBoxManifest(line('a', 'x', 1, '1'))).toThrow(/kind/);
    expect(() => parseBoxManifest('not json\n')).toThrow(/JSON/);
    const ok = parseBoxManifest(
      line('d', 'd', 0, '0') + line('d/..evil', 'f', 4, '12') + line('d/l', 'l', 1, '3', '/etc'),
    );
    expect([...ok.keys()]).toEqual(['d', 'd/..evil', 'd/l']);
  });

  it("the writer's archives read back, long names included", async () => {
    const long = `${'deep/'.repeat(30)}file-with-a-long-name.txt`;
    const common = { mtimeNs: '1700000000123456789', uid: 1, gid: 1 };
    const entries: PackEntry[] = [
      { name: 'dir', type: 'dir', mode: 0o755, ...common },
      { name: long, type: 'file', mode: 0o644, size: 5, data: [Buffer.from('hello')], ...common },
      { name: 'link', type: 'symlink', mode: 0o777, linkname: 'x'.repeat(150), ...common },
    ];
    const tar = await packed(entries);
    const seen: Array<[string, string, string]> = [];
    let body = '';
    await readTar(
      (async function* () {
        yield tar;
      })(),
      (h) => {
        seen.push([h.name, h.type, h.linkname]);
        return h.type === 'file' ? { write: (c) => void (body += c.toString()), end: () => undefined } : null;
      },
    );
    expect(seen).toEqual([
      ['dir/', 'dir', ''],
      [long, 'file', ''],
      ['link', 'symlink', 'x'.repeat(150)],
    ]);
    expect(body).toBe('hello');
    // Python's tarfile reads it the same way, with the mtime to the nanosecond's float
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, tarfile, io\nt = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))\n' +
          'print([(m.name, m.type.decode(), m.linkname[:3], repr(m.mtime)) for m in t])',
      ],
      { input: tar, encoding: 'utf8' },
    );
    expect(py.stderr).toBe('');
    expect(py.stdout.trim()).toBe(
      `[('dir', '5', '', '1700000000.1234567'), ('${long}', '0', '', '1700000000.1234567'), ('link', '2', 'xxx', '1700000000.1234567')]`,
    );
  });

  it('a link without a target does not stall the writer', async () => {
    const tar = await packed([{ name: 'l', type: 'symlink', mode: 0o777, mtimeNs: '1', uid: 1, gid: 1 }]);
    const seen: string[] = [];
    await readTar(
      (async function* () {
        yield tar;
      })(),
      (h) => {
        seen.push(`${h.name} ${h.type} '${h.linkname}'`);
        return null;
      },
    );
    expect(seen).toEqual(["l symlink ''"]);
  });
});

describe('argChunks', () => {
  it('splits a deletion list so that no argument passes the kernel limit, keeping every name once, in order', () => {
    const rels = Array.from({ length: 3000 }, (_, i) => `data/${'x'.repeat(200)}-${i}.csv`);
    const chunks = argChunks(rels);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(64 * 1024);
    expect(chunks.flat()).toEqual(rels);
    expect(argChunks([])).toEqual([]);
  });
});

describe('topmost', () => {
  it('keeps only the paths with no ancestor listed, a name that merely starts like a folder included', () => {
    expect(topmost(['a/b/c', 'a', 'ab', 'a/b', 'x/y', 'x/y/z', 'a-b/c', 'ab/c'])).toEqual([
      'a',
      'a-b/c',
      'ab',
      'x/y',
    ]);
    expect(topmost([])).toEqual([]);
  });

  it('stays linear on a deletion of many unrelated paths', () => {
    const rels = Array.from({ length: 200_000 }, (_, i) => `gone-${i}`);
    const t0 = performance.now();
    expect(topmost(rels)).toHaveLength(rels.length);
    // a guard against quadratic work, not a speed target: the pairwise scan took 190 s here, a linear one < 1 s
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 60_000);
});

describe('fetchUnits', () => {
  const entries = (rels: string[], size: number): Array<[string, ManifestEntry]> =>
    rels.map((r) => file(r, size));

  it('one archive per top folder holding many changed files, else one per file, each capped by what the box holds', () => {
    const many = Array.from({ length: 17 }, (_, i) => `big/f${i}`);
    const few = ['small/a', 'small/b'];
    const top = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const box = new Map<string, ManifestEntry>([
      ['big', { kind: 'd', size: 0, mtimeNs: '0' }],
      ['small', { kind: 'd', size: 0, mtimeNs: '0' }],
      ['bigger', { kind: 'd', size: 0, mtimeNs: '0' }],
      ...entries(many, 10),
      ['big/unchanged', { kind: 'f', size: 1000, mtimeNs: '1' }],
      ['bigger/x', { kind: 'f', size: 5, mtimeNs: '1' }],
      ...entries(few, 7),
      ...entries(top, 3),
    ]);
    const files = new Map([...entries(many, 10), ...entries(few, 7), ...entries(top, 3)]);
    const units = fetchUnits(files, box);
    const slack = (count: number) => (count + 4) * 2048 + 1024 * 1024;
    // the folder, its own entry and everything under it (not 'bigger', which only starts alike)
    expect(units.find((u) => u.unit === 'big')).toEqual({
      unit: 'big',
      wireCap: 17 * 10 + 1000 + slack(19),
      rels: many,
    });
    expect(units.find((u) => u.unit === 'small/a')).toEqual({
      unit: 'small/a',
      wireCap: 7 + slack(1),
      rels: ['small/a'],
    });
    expect(units.map((u) => u.unit).sort()).toEqual(['big', ...few, ...top].sort());
    expect(units.flatMap((u) => u.rels).sort()).toEqual([...files.keys()].sort());
  });

  it('stays linear with many changed files in one folder and many folders fetched whole', () => {
    const rels = Array.from({ length: 60_000 }, (_, i) => `data/f${i}`);
    const folders = Array.from({ length: 2000 }, (_, i) =>
      Array.from({ length: 17 }, (_, j) => `d${i}/f${j}`),
    ).flat();
    const files = new Map([...entries(rels, 1), ...entries(folders, 1)]);
    const box = new Map<string, ManifestEntry>([['data', { kind: 'd', size: 0, mtimeNs: '0' }], ...files]);
    const t0 = performance.now();
    const units = fetchUnits(files, box);
    // a guard against quadratic work, not a speed target: the copying grouping took 37 s here, this one 0.3 s
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(units).toHaveLength(2001);
    expect(units.find((u) => u.unit === 'data')?.rels).toHaveLength(60_000);
  }, 60_000);
});
