// The descriptor layer on its own (no freezer): /proc/self/fd/<fd>/<name> acts as openat, symlinks are refused, and a
// process swapping a folder with a symlink to an outside folder never gets a read, write or delete redirected.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRegular, writeAtomic } from '../../src/workspace/file-io.js';
import { copyOut } from '../../src/fsafe/copy.js';
import { Dir } from '../../src/fsafe/dir.js';
import { removeEntry, removeTree } from '../../src/fsafe/remove.js';

const SWAP = `import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
end = time.time() + 60
while time.time() < end:
    libc.renameat2(-100, a, -100, b, 2)
`;

let base: string;
let ws: string;
let outside: string;
let swapper: ChildProcess | null = null;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'fsafe-'));
  ws = join(base, 'ws');
  outside = join(base, 'outside');
  mkdirSync(join(ws, 'd'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim.txt'), 'outside');
  writeFileSync(join(ws, 'd', 'victim.txt'), 'inside');
  symlinkSync(outside, join(ws, 'x'));
});

afterEach(() => {
  swapper?.kill('SIGKILL');
  swapper = null;
  rmSync(base, { recursive: true, force: true });
});

function startSwapper(cwd: string, a: string, b: string): void {
  swapper = spawn('/usr/bin/python3', ['-c', SWAP, a, b], { cwd, stdio: 'ignore' });
}

describe('the mechanism', () => {
  it('reaches the very folder the descriptor holds, and refuses a symlink as last component', () => {
    const root = Dir.openPath(ws);
    try {
      const fd = Number(root.self().split('/').pop());
      const st = fstatSync(fd, { bigint: true });
      expect([st.dev, st.ino]).toEqual([root.dev, root.ino]);
      expect(() => root.openDir('x')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
      expect(() => root.openFile('x', constants.O_RDONLY)).toThrow(
        expect.objectContaining({ code: 'ELOOP' }),
      );
      expect(() => root.at('..')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => root.at('a/b')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      const d = root.openDir('d');
      const fd2 = d.openFile('victim.txt', constants.O_RDONLY);
      expect(fstatSync(fd2).ino).toBe(statSync(join(ws, 'd', 'victim.txt')).ino);
      closeSync(fd2);
      d.close();
    } finally {
      root.close();
    }
  });

  it('keeps addressing the folder it opened after the name moved', () => {
    const root = Dir.openPath(ws);
    const d = root.openDir('d');
    rmSync(join(ws, 'x'));
    // what was 'd' is now 'moved'; a symlink to the outside takes its name
    renameSync(join(ws, 'd'), join(ws, 'moved'));
    symlinkSync(outside, join(ws, 'd'));
    expect(d.names()).toEqual(['victim.txt']);
    d.unlink('victim.txt');
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('outside');
    expect(existsSync(join(ws, 'moved', 'victim.txt'))).toBe(false);
    d.close();
    root.close();
  });
});

describe('against a process swapping a folder and a symlink', () => {
  it('reads, writes and copies never reach the outside folder', async () => {
    startSwapper(ws, 'd', 'x');
    for (let i = 0; i < 300; i++) {
      try {
        const { fh } = await openRegular(join(ws, 'd', 'victim.txt'), ws);
        const buf = Buffer.alloc(16);
        const { bytesRead } = await fh.read(buf, 0, 16, 0);
        await fh.close();
        expect(buf.subarray(0, bytesRead).toString()).toBe('inside');
      } catch (err) {
        expect((err as Error).name).toMatch(/UnsafeFileError|Error/);
      }
      await writeAtomic(join(ws, 'd', `w${i}.txt`), ws, Buffer.from('w')).catch(() => undefined);
      const root = Dir.openPath(ws);
      try {
        await copyOut(root, ['d'], join(base, `copy${i}`));
      } finally {
        root.close();
      }
      if (existsSync(join(base, `copy${i}`))) {
        expect(readdirSync(join(base, `copy${i}`)).every((n) => n === 'victim.txt' || /^w\d+/.test(n))).toBe(
          true,
        );
        const v = join(base, `copy${i}`, 'victim.txt');
        if (existsSync(v)) expect(readFileSync(v, 'utf8')).toBe('inside');
      }
    }
    expect(readdirSync(outside)).toEqual(['victim.txt']);
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('outside');
  }, 60_000);

  it('tree removal deletes the tree and nothing outside it', async () => {
    for (let i = 0; i < 30; i++) {
      const t = join(base, `t${i}`);
      mkdirSync(join(t, 'deep', 'a', 'b'), { recursive: true });
      for (let n = 0; n < 30; n++) writeFileSync(join(t, 'deep', 'a', `f${n}`), 'x');
      symlinkSync(outside, join(t, 'deep', 'l'));
      startSwapper(join(t, 'deep'), 'a', 'l');
      await new Promise((r) => setTimeout(r, 5));
      await removeTree(t);
      swapper?.kill('SIGKILL');
      expect(existsSync(t)).toBe(false);
      expect(readdirSync(outside)).toEqual(['victim.txt']);
    }
  }, 60_000);
});

describe('tree removal', () => {
  it('removes a tree deeper than PATH_MAX and more descriptors deep than it keeps open', async () => {
    const py = `import os
fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
for i in range(1500):
    n = ('d%04d' % i).ljust(60, 'x')
    os.mkdir(n, dir_fd=fd)
    os.close(os.open('f', os.O_WRONLY | os.O_CREAT, dir_fd=fd)) if i % 100 == 0 else None
    nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
`;
    mkdirSync(join(base, 'deep'));
    execFileSync('/usr/bin/python3', ['-c', py], { cwd: join(base, 'deep') });
    const parent = Dir.openPath(base);
    await removeEntry(parent, 'deep');
    parent.close();
    expect(existsSync(join(base, 'deep'))).toBe(false);
  }, 60_000);

  it('removes a symlink itself, never what it points at, and read-only folders', async () => {
    mkdirSync(join(base, 'ro', 'sub'), { recursive: true });
    writeFileSync(join(base, 'ro', 'sub', 'f'), 'x');
    symlinkSync(outside, join(base, 'ro', 'link'));
    chmodSync(join(base, 'ro', 'sub'), 0o500);
    await removeTree(join(base, 'ro'));
    expect(existsSync(join(base, 'ro'))).toBe(false);
    expect(readdirSync(outside)).toEqual(['victim.txt']);
  });
});
