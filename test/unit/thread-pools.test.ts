// Table tests of the thread-pool sizing a box gets from its CPU share.
import { describe, expect, it } from 'vitest';
import { boxThreads, threadPoolEnv } from '../../src/sandbox/thread-pools.js';

describe('boxThreads', () => {
  it.each([
    [undefined, 2, 1],
    [0, 2, 1],
    [undefined, 16, 8],
    [undefined, 1, 1],
    [0.5, 16, 1],
    [2, 16, 2],
    [2.5, 16, 3],
    [64, 16, 16],
  ])('quota %s on %i CPUs gives %i threads', (quota, cpus, want) => {
    expect(boxThreads(quota, cpus)).toBe(want);
  });

  it('names every common pool with the same count', () => {
    const env = threadPoolEnv(3);
    for (const name of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMEXPR_NUM_THREADS'])
      expect(env[name]).toBe('3');
  });
});
