// Sizes the thread pools of numeric libraries in a box to its CPU share, so boxes do not each spin a thread per host CPU.
import { availableParallelism } from 'node:os';

/** Threads a box's numeric libraries may start: its CPU quota rounded up, else half the host's CPUs (at least 1). */
export function boxThreads(cpuQuota: number | undefined, cpus = availableParallelism()): number {
  if (cpuQuota !== undefined && cpuQuota > 0) return Math.max(1, Math.min(cpus, Math.ceil(cpuQuota)));
  return Math.max(1, Math.floor(cpus / 2));
}

/** The environment every common pool reads: OpenBLAS, OpenMP, MKL, numexpr, BLIS and Accelerate. */
export function threadPoolEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return {
    OPENBLAS_NUM_THREADS: n,
    OMP_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
    NUMEXPR_NUM_THREADS: n,
    NUMEXPR_MAX_THREADS: n,
    BLIS_NUM_THREADS: n,
    VECLIB_MAXIMUM_THREADS: n,
  };
}
