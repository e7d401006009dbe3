// The hand-over of a workspace to a root server's box uid, raced by a process that swaps a folder of it with a link to a host folder: the host folder must never change owner.
import { spawn } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boxOwner } from '../../src/box-user.js';
import { ensureBoxOwnership } from '../../src/sandbox/box-ownership.js';

const tmp = mkdtempSync(join(tmpdir(), 'box-ownership-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// renameat2(RENAME_EXCHANGE) in a loop: `sub` is a folder one instant and a link to the host folder the next
const SWAPPER = `import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
end = time.time() + float(sys.argv[3])
while time.time() < end:
    libc.renameat2(-100, a, -100, b, 2)
`;

describe.skipIf(process.getuid?.() !== 0)('ensureBoxOwnership as root', () => {
  it('gives the tree to the box uid without following links', () => {
    const ws = join(tmp, 'plain');
    mkdirSync(join(ws, 'a', 'b'), { recursive: true });
    writeFileSync(join(ws, 'a', 'b', 'f'), 'x');
    const host = join(tmp, 'host-file');
    writeFileSync(host, 'secret');
    symlinkSync(host, join(ws, 'a', 'link'));
    ensureBoxOwnership([ws]);
    const { uid } = boxOwner();
    for (const p of [ws, join(ws, 'a'), join(ws, 'a', 'b'), join(ws, 'a', 'b', 'f'), join(ws, 'a', 'link')]) {
      expect(lstatSync(p).uid).toBe(uid);
    }
    expect(lstatSync(host).uid).toBe(0);
  });

  it('never gives away a host folder while a folder of the workspace is swapped with a link to it', async () => {
    const host = join(tmp, 'host');
    mkdirSync(join(host, 'inner'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(host, 'inner', `f${i}`), 'secret');
    const ws = join(tmp, 'raced');
    mkdirSync(join(ws, 'sub', 'inner'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(ws, 'sub', 'inner', `f${i}`), 'x');
    symlinkSync(host, join(ws, 'swap'));
    writeFileSync(join(tmp, 'swap.py'), SWAPPER);
    const swapper = spawn('/usr/bin/python3', [join(tmp, 'swap.py'), join(ws, 'sub'), join(ws, 'swap'), '4']);
    const exited = new Promise((resolve) => swapper.on('exit', resolve));
    await new Promise((resolve) => swapper.on('spawn', resolve));
    try {
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        chownSync(ws, 0, 0); // owned by root again, so every round walks the whole tree
        ensureBoxOwnership([ws]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      swapper.kill();
      await exited;
    }
    expect(lstatSync(join(host, 'inner')).uid).toBe(0);
    expect(lstatSync(join(host, 'inner', 'f0')).uid).toBe(0);
    expect(lstatSync(join(host, 'inner', 'f49')).uid).toBe(0);
  });
});
