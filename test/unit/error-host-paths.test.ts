// Internal errors reach the client without host paths (the data dir, /proc/self/fd/N), keeping what failed.
import { openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SandboxError, toErrorBody } from '../../src/errors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('internal errors without host paths', () => {
  it('an fs error keeps its code and call, not its path (spaces included)', () => {
    const err = thrown(() => openSync('/tmp/no such dir/proc-fd-29/leased.txt', 'r'));
    const body = toErrorBody(err);
    expect(body.code).toBe('internal');
    expect(body.message).toBe("ENOENT: no such file or directory, open '<host path>'");
  });

  it('a message naming host paths loses them; relative paths, URLs and fractions stay', () => {
    const body = toErrorBody(
      new Error(
        "readlink '/proc/self/fd/29/d' failed under /srv/data/sessions (a/b, 1/2, http://127.0.0.1:8765/mcp)",
      ),
    );
    expect(body.message).toBe(
      "readlink '<host path>' failed under <host path> (a/b, 1/2, http://127.0.0.1:8765/mcp)",
    );
  });

  it('an internal SandboxError loses host paths in its message and details; other codes are left alone', () => {
    const body = toErrorBody(
      new SandboxError('internal', 'rollback of /srv/data/sessions/s_1/workspace failed', {
        workspace: '/srv/data/sessions/s_1/workspace',
        missing: ['d/a.txt'],
        nested: { cause: "EIO, open '/srv/x'" },
        count: 3,
      }),
    );
    expect(body).toEqual({
      code: 'internal',
      message: 'rollback of <host path> failed',
      details: {
        workspace: '<host path>',
        missing: ['d/a.txt'],
        nested: { cause: "EIO, open '<host path>'" },
        count: 3,
      },
    });
    const refusal = new SandboxError('invalid_argument', "The path '/etc/x' is absolute", { path: '/etc/x' });
    expect(toErrorBody(refusal)).toEqual(refusal.toBody());
  });
});
