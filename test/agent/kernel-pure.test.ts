// Runs the kernel's table tests (test_kernel_pure.py) with the system Python's unittest; any failing row fails here.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PYTHON } from './agent-client.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

describe('kernel pure functions', () => {
  it('pass the truncation, error-report and JSON-safety tables', () => {
    // -B: no __pycache__ left in the source folders.
    const r = spawnSync(PYTHON, ['-B', '-m', 'unittest', '-v', 'test_kernel_pure'], {
      cwd: HERE,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toMatch(/^Ran \d+ tests/m);
    expect(r.status, r.stderr).toBe(0);
  });
});
