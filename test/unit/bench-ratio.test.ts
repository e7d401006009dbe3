// The benchmarks print a ratio only between two figures of one interleaved run, and refuse any other.
import { describe, expect, it } from 'vitest';
import { interleavedRatio, tagged } from '../../bench/stats.js';

describe('interleavedRatio', () => {
  it('divides two figures of the same run', () => {
    expect(interleavedRatio(tagged(3, 'run-a'), tagged(2, 'run-a'))).toBe(1.5);
  });

  it('refuses figures from two runs, naming both', () => {
    expect(() => interleavedRatio(tagged(3, 'run-a'), tagged(2, 'run-b'))).toThrow(/run-a and run-b/);
  });
});
