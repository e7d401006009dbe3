// The per-key task chain behind a session's calls and its backups: order within a key, overlap between keys, and a
// failed task that leaves the tasks behind it running.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { KeyedSerial } from '../../src/keyed-serial.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether the garbage collector frees what ref points to, once the current tasks have ended. */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  return ref.deref() === undefined;
}

/** A task that logs its start, waits for release(), then logs its end. */
function gate(log: string[], name: string): { task: () => Promise<string>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return {
    task: async () => {
      log.push(`start ${name}`);
      await released;
      log.push(`end ${name}`);
      return name;
    },
    release,
  };
}

describe('KeyedSerial', () => {
  it('runs the tasks of one key one at a time, in the order given', async () => {
    const serial = new KeyedSerial<string>();
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const first = serial.run('s1', a.task);
    const second = serial.run('s1', b.task);
    const third = serial.run('s1', () => {
      log.push('c');
      return 'c';
    });
    // b and c wait for a, however long a takes
    b.release();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['start a']);
    a.release();
    expect(await Promise.all([first, second, third])).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'c']);
  });

  it('lets different keys run at the same time', async () => {
    const serial = new KeyedSerial<object>();
    const log: string[] = [];
    const one = {};
    const two = {};
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const pa = serial.run(one, a.task);
    const pb = serial.run(two, b.task);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['start a', 'start b']);
    b.release();
    expect(await pb).toBe('b');
    expect(log).toEqual(['start a', 'start b', 'end b']);
    a.release();
    await pa;
  });

  it('gives a rejected or throwing task its own error and runs the tasks behind it', async () => {
    const serial = new KeyedSerial<string>();
    const log: string[] = [];
    const rejected = serial.run('s', async () => {
      log.push('rejects');
      throw new Error('first failed');
    });
    const thrown = serial.run('s', () => {
      log.push('throws');
      throw new Error('second failed');
    });
    const after = serial.run('s', async () => {
      log.push('runs');
      return 42;
    });
    await expect(rejected).rejects.toThrow('first failed');
    await expect(thrown).rejects.toThrow('second failed');
    expect(await after).toBe(42);
    expect(log).toEqual(['rejects', 'throws', 'runs']);
  });

  it('keeps no key once its chain has run dry, and starts it afresh', async () => {
    const serial = new KeyedSerial<object>();
    const held = await (async () => {
      const key = {};
      await serial.run(key, async () => 1);
      await new Promise((r) => setImmediate(r));
      await expect(serial.run(key, async () => 2)).resolves.toBe(2);
      await expect(
        serial.run(key, () => {
          throw new Error('failed');
        }),
      ).rejects.toThrow('failed');
      return new WeakRef(key);
    })();
    // the serial lives on: the key can be collected only if nothing in it still refers to the key
    expect(await collected(held)).toBe(true);
  });
});
