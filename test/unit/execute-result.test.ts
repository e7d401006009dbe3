// Unit tests for turning the agent's final message into the execute result (status and error mapping).
import { describe, expect, it } from 'vitest';
import { buildExecuteResult, type ResultContext } from '../../src/sessions/execute-result.js';
import type { AgentFinal } from '../../src/sandbox/protocol.js';

const ctx: ResultContext = {
  sessionId: 's_x',
  executionCount: 4,
  timeoutS: 5,
  memoryMb: 256,
  oomKilled: false,
  isolation: 'bwrap',
  notices: [],
  memoryPeakBytes: null,
  pids: null,
};

const final = (over: Partial<AgentFinal>): AgentFinal => ({ type: 'final', id: 'r', status: 'ok', ...over });

describe('buildExecuteResult', () => {
  it('keeps the final expression and displays apart', () => {
    const r = buildExecuteResult(
      final({}),
      [
        { type: 'display_data', id: 'r', data: { 'text/plain': 'd' } },
        { type: 'execute_result', id: 'r', execution_count: 4, data: { 'text/plain': '2' } },
      ],
      ctx,
    );
    expect(r.result).toEqual({ 'text/plain': '2' });
    expect(r.displays).toEqual([{ 'text/plain': 'd' }]);
    expect(r.error).toBeNull();
    expect(r.execution_count).toBe(4);
  });

  it('maps a kill with an OOM kill counted to memory_limit', () => {
    const r = buildExecuteResult(final({ status: 'killed', signal: 9, state_preserved: false }), [], {
      ...ctx,
      oomKilled: true,
    });
    expect(r.status).toBe('memory_limit');
    expect(r.error?.code).toBe('memory_limit');
    expect(r.error?.message).toContain('256 MiB');
  });

  it('maps a kill without an OOM kill to a runtime error naming the signal', () => {
    const r = buildExecuteResult(final({ status: 'killed', signal: 11, state_preserved: false }), [], ctx);
    expect(r.status).toBe('killed');
    expect(r.error?.code).toBe('runtime_error');
    expect(r.error?.message).toContain('signal 11');
  });

  it('says whether the state survived a timeout', () => {
    const kept = buildExecuteResult(final({ status: 'timeout', state_preserved: true }), [], ctx);
    expect(kept.error?.code).toBe('timeout');
    expect(kept.error?.message).toContain('survived');
    const lost = buildExecuteResult(
      final({ status: 'timeout', state_preserved: false, kernel_restarted: true }),
      [],
      ctx,
    );
    expect(lost.error?.message).toContain('state was lost');
    expect(lost.kernel_restarted).toBe(true);
  });

  it('moves agent error fields into details and keeps the hint', () => {
    const r = buildExecuteResult(
      final({
        status: 'error',
        error: {
          code: 'import_error',
          ename: 'ModuleNotFoundError',
          evalue: "No module named 'zz'",
          message: "No module named 'zz'",
          traceback: [],
          module: 'zz',
          hint: 'install_package("zz")',
        },
      }),
      [],
      ctx,
    );
    expect(r.error).toMatchObject({
      code: 'import_error',
      hint: 'install_package("zz")',
      details: { module: 'zz' },
    });
  });

  it('hints at making room when a cell ran out of disk, and not for other OS errors', () => {
    const oserror = (evalue: string) =>
      buildExecuteResult(
        final({
          status: 'error',
          error: {
            code: 'runtime_error',
            ename: 'OSError',
            evalue,
            message: `OSError: ${evalue}`,
            traceback: [],
          },
        }),
        [],
        ctx,
      ).error;
    expect(oserror('[Errno 28] No space left on device')?.hint).toMatch(/disk is full.*cleanup_old_backups/);
    expect(oserror('[Errno 2] No such file or directory')?.hint).toBeUndefined();
  });

  it('says in a notice when the saved file of a long output is short', () => {
    const r = buildExecuteResult(
      final({
        stdout: {
          text: 'x',
          truncated: true,
          bytes: 10,
          saved_path: '.sandbox/outputs/4.stdout.txt',
          save_note:
            '.sandbox/outputs/4.stdout.txt holds only the start of stdout (no space left on the disk)',
        },
      }),
      [],
      { ...ctx, notices: ['earlier'] },
    );
    expect(r.notices).toEqual([
      'earlier',
      '.sandbox/outputs/4.stdout.txt holds only the start of stdout (no space left on the disk)',
    ]);
    expect(r.full_output).toEqual({ stdout: '.sandbox/outputs/4.stdout.txt' });
  });
});
