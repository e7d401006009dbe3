// A box's numeric libraries start no more threads than its CPU share: checked on the kernel process after a matmul.
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startStdio();
}, 120_000);
afterAll(() => h?.close());

describe('thread pools sized to the box', () => {
  it('OpenBLAS in the kernel keeps to the share (one thread on a 2-CPU host), and says so in the environment', async () => {
    const r = await h.sc('execute', {
      code: `
import numpy as np, os
a = np.random.rand(300, 300)
for _ in range(5): a @ a
threads = int([l for l in open('/proc/self/status') if l.startswith('Threads:')][0].split()[1])
print(os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('OMP_NUM_THREADS'), threads)`,
    });
    expect(r.status).toBe('ok');
    const [blas, omp, threads] = (r.stdout as string).trim().split(' ');
    const want = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(blas).toBe(String(want));
    expect(omp).toBe(String(want));
    // the kernel's own threads (main, output, lane) plus at most want-1 BLAS workers
    expect(Number(threads)).toBeLessThanOrEqual(4 + want - 1);
  });
});
