// Cells that raise hostile exceptions get a structured error and keep the kernel and its namespace; the kernel's own
// modules stay out of the way of the user's files and tracebacks.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PY, AgentClient, resultText, type Reply } from './agent-client.js';

function errorOf(r: Reply) {
  expect(r.final.status).toBe('error');
  const err = r.final.error;
  if (!err) throw new Error('final.error is empty');
  return err;
}

describe('kernel: hostile exceptions', () => {
  let agent: AgentClient;
  let kernelPid: number;
  beforeAll(async () => {
    agent = await AgentClient.start();
    kernelPid = agent.ready.kernel_pid;
    expect((await agent.execute('kept = 41')).final.status).toBe('ok');
  });
  afterAll(async () => {
    await agent?.close();
  });

  // Each cell ends in an error; the kernel must neither crash nor lose `kept`.
  const cases: { name: string; code: string; expected: Record<string, unknown> }[] = [
    {
      name: 'an ImportError whose name is an int',
      code: "raise ModuleNotFoundError('gone', name=5)",
      expected: { code: 'import_error', ename: 'ModuleNotFoundError', module: null },
    },
    {
      name: 'an ImportError whose name is unhashable',
      code: "raise ModuleNotFoundError('gone', name=[1])",
      expected: { code: 'import_error', module: null },
    },
    {
      name: 'an ImportError whose name is a str subclass with a raising split()',
      code:
        'class S(str):\n    def split(self, *a):\n        raise RuntimeError("no")\n\n' +
        "raise ModuleNotFoundError('gone', name=S('sklearn.svm'))",
      expected: { code: 'import_error', module: 'sklearn.svm', hint: 'install_package("scikit-learn")' },
    },
    {
      name: 'an ImportError whose name property raises',
      code: 'class E(ImportError):\n    @property\n    def name(self):\n        raise RuntimeError("no")\n\nraise E("x")',
      expected: { code: 'import_error', ename: 'E', module: null },
    },
    {
      name: 'a chain of 3000 exceptions',
      code:
        'e = None\nfor i in range(3000):\n    try:\n        raise ValueError(i) from e\n' +
        '    except ValueError as x:\n        e = x\nraise e',
      expected: { code: 'runtime_error', ename: 'ValueError', evalue: '2999' },
    },
    {
      name: 'a SystemExit whose code cannot be compared',
      code:
        'class C:\n    def __eq__(self, other):\n        raise RuntimeError("no")\n    __hash__ = None\n\n' +
        'raise SystemExit(C())',
      expected: { code: 'runtime_error', ename: 'SystemExit' },
    },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with a structured error and keeps the namespace`, async () => {
      const r = await agent.execute(c.code);
      expect(r.final.kernel_restarted ?? false).toBe(false);
      expect(errorOf(r)).toMatchObject(c.expected);
      const after = await agent.execute('kept + 1');
      expect(resultText(after)).toBe('42');
      expect(agent.lane.kernelPid).toBe(kernelPid);
    });
  }
});

describe('kernel: its own modules', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start();
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('imports workspace files named like the kernel modules as the user’s own', async () => {
    for (const name of [
      'kernel',
      'kernel_channel',
      'kernel_display',
      'kernel_errors',
      'kernel_figures',
      'caches',
    ])
      writeFileSync(join(agent.workspace, `${name}.py`), `MINE = ${JSON.stringify(name)}\n`);
    const r = await agent.execute(
      'import kernel, kernel_channel, kernel_display, kernel_errors, kernel_figures, caches\n' +
        '[m.MINE for m in (kernel, kernel_channel, kernel_display, kernel_errors, kernel_figures, caches)]',
    );
    expect(r.final.status).toBe('ok');
    expect(resultText(r)).toBe(
      "['kernel', 'kernel_channel', 'kernel_display', 'kernel_errors', 'kernel_figures', 'caches']",
    );
  });

  it('shows no kernel frame in the traceback of an error raised inside display()', async () => {
    const r = await agent.execute('display(1, metadata=5)');
    const err = errorOf(r);
    expect(err.ename).toBe('TypeError');
    const tb = (err.traceback ?? []).join('');
    expect(tb).toContain('<cell-');
    expect(tb).not.toContain(dirname(AGENT_PY));
  });
});
