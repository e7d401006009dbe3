// End-to-end: execute and shell_execute that print the same long output past the box's file-size limit answer alike:
// the same capped text, a saved file of the limit's size, and a notice saying the file holds only the start.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStdio, type Harness } from './harness.js';

const LIMIT = 1 << 20; // --file-size-mb 1
const PRINT = "import sys\nsys.stdout.write(''.join('line %07d\\n' % i for i in range(300000)))"; // 3.6 MB

describe('long output of a cell and of a shell command', () => {
  let h: Harness;
  let sessionId: string;
  beforeAll(async () => {
    h = await startStdio({ env: { SANDBOX_MCP_FILE_SIZE_MB: '1' } });
    sessionId = (await h.sc('create_session', { name: 'parity' })).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('gives the same text, saved file size and file-size notice', async () => {
    const cell = await h.sc('execute', { session_id: sessionId, code: PRINT });
    const shell = await h.sc('shell_execute', {
      session_id: sessionId,
      command: `python3 -c "${PRINT.replace('\n', '; ')}"`,
    });
    expect(cell.status).toBe('ok');
    expect(shell.exit_code).toBe(0);
    expect(shell.stdout).toBe(cell.stdout);
    expect(shell.stdout_truncated).toBe(true);
    expect(cell.stdout_truncated).toBe(true);
    const workspace = join(h.dataDir, 'sessions', sessionId, 'workspace');
    for (const r of [cell, shell]) {
      const saved = r.full_output.stdout as string;
      expect(statSync(join(workspace, saved)).size).toBe(LIMIT);
      expect(r.notices).toContain(
        `${saved} holds the first ${LIMIT} bytes of stdout: the box's file-size limit`,
      );
    }
  }, 60_000);
});
