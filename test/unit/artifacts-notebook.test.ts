// Unit tests for notebook export: the .ipynb holds each call's code and outputs and is valid nbformat 4.5; never writes outside its temp folder.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildNotebook, type Notebook } from '../../src/artifacts/notebook.js';
import { ArtifactService } from '../../src/artifacts/service.js';
import type { NotebookHistoryEntry, SessionScope } from '../../src/artifacts/types.js';
import { SandboxError } from '../../src/errors.js';

const PNG_B64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

const HISTORY: NotebookHistoryEntry[] = [
  {
    execution_count: 1,
    code: 'x = 21\nprint("hello")\nx * 2',
    status: 'ok',
    stdout: 'hello\n',
    stderr: '',
    items: [{ type: 'execute_result', data: { 'text/plain': '42' } }],
  },
  {
    execution_count: 2,
    code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n',
    status: 'ok',
    stdout: '',
    stderr: 'warning: something\n',
    items: [
      {
        type: 'display_data',
        data: { 'image/png': PNG_B64, 'text/plain': '<Figure size 640x480 with 1 Axes>' },
      },
      {
        type: 'display_data',
        data: { 'application/json': { a: [1, 2] }, 'text/html': '<b>a</b>\n<i>b</i>' },
      },
    ],
  },
  {
    execution_count: 3,
    code: '1/0',
    status: 'error',
    stdout: '',
    stderr: '',
    items: [
      {
        type: 'error',
        error: {
          ename: 'ZeroDivisionError',
          evalue: 'division by zero',
          traceback: [
            'Traceback (most recent call last):',
            '  File "<cell 3>", line 1',
            'ZeroDivisionError: division by zero',
          ],
        },
      },
    ],
  },
  { execution_count: null, code: '', status: 'timeout', stdout: '', stderr: '', items: [] },
];

describe('buildNotebook', () => {
  const nb = buildNotebook(HISTORY, { sessionId: 's_nb', exportedAt: '2025-01-01T00:00:00.000Z' });

  it('makes one code cell per call with its source as lines and a unique id', () => {
    expect(nb.nbformat).toBe(4);
    expect(nb.nbformat_minor).toBe(5);
    expect(nb.cells).toHaveLength(4);
    expect(nb.cells[0]!.source).toEqual(['x = 21\n', 'print("hello")\n', 'x * 2']);
    expect(nb.cells[3]!.source).toEqual([]);
    expect(nb.cells.map((c) => c.execution_count)).toEqual([1, 2, 3, null]);
    const ids = nb.cells.map((c) => c.id);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9-_]{1,64}$/);
  });

  it('keeps streams, results, displays with their MIME bundles (PNG as base64) and errors', () => {
    expect(nb.cells[0]!.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: ['hello\n'] },
      { output_type: 'execute_result', execution_count: 1, data: { 'text/plain': ['42'] }, metadata: {} },
    ]);
    expect(nb.cells[1]!.outputs).toEqual([
      { output_type: 'stream', name: 'stderr', text: ['warning: something\n'] },
      {
        output_type: 'display_data',
        data: { 'image/png': PNG_B64, 'text/plain': ['<Figure size 640x480 with 1 Axes>'] },
        metadata: {},
      },
      {
        output_type: 'display_data',
        data: { 'application/json': { a: [1, 2] }, 'text/html': ['<b>a</b>\n', '<i>b</i>'] },
        metadata: {},
      },
    ]);
    expect(nb.cells[2]!.outputs).toEqual([
      {
        output_type: 'error',
        ename: 'ZeroDivisionError',
        evalue: 'division by zero',
        traceback: [
          'Traceback (most recent call last):',
          '  File "<cell 3>", line 1',
          'ZeroDivisionError: division by zero',
        ],
      },
    ]);
  });
});

describe('ArtifactService.exportNotebook', () => {
  let base: string;
  let scope: SessionScope;
  let svc: ArtifactService;

  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'notebook-')));
    scope = { sessionId: 's_nb', workspace: join(base, 'ws') };
    mkdirSync(scope.workspace);
    svc = new ArtifactService({ now: () => new Date('2025-03-04T05:06:07Z') });
  });

  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('writes notebooks/<name>.ipynb and reports it as an artifact', async () => {
    const r = await svc.exportNotebook(scope, HISTORY, 'analysis');
    expect(r.path).toBe('notebooks/analysis.ipynb');
    expect(r.cell_count).toBe(4);
    expect(r.uri).toBe('sandbox://sessions/s_nb/files/notebooks/analysis.ipynb');
    expect(r.artifact).toMatchObject({
      path: 'notebooks/analysis.ipynb',
      category: 'code',
      mime: 'application/x-ipynb+json',
    });
    const parsed = JSON.parse(readFileSync(join(scope.workspace, r.path), 'utf8')) as Notebook;
    expect(parsed.cells.map((c) => c.cell_type)).toEqual(['code', 'code', 'code', 'code']);
    expect(parsed.cells[1]!.outputs[1]).toMatchObject({
      output_type: 'display_data',
      data: { 'image/png': PNG_B64 },
    });
    expect(parsed.metadata).toMatchObject({
      kernelspec: { name: 'python3' },
      sandbox_mcp: { session_id: 's_nb' },
    });
    expect((await svc.list(scope, { category: 'code' })).artifacts.map((a) => a.path)).toEqual([
      'notebooks/analysis.ipynb',
    ]);
  });

  it('names the notebook after the time when no name is given, and accepts a name ending in .ipynb', async () => {
    expect((await svc.exportNotebook(scope, HISTORY)).path).toBe('notebooks/session-20250304-050607.ipynb');
    expect((await svc.exportNotebook(scope, [], 'empty.ipynb')).path).toBe('notebooks/empty.ipynb');
  });

  it('refuses names that are not one plain file name, and a notebooks folder that points outside', async () => {
    for (const name of ['../evil', 'a/b', '', '.hidden', 'x'.repeat(101)]) {
      const err = await svc.exportNotebook(scope, HISTORY, name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxError);
      expect((err as SandboxError).code).toBe('invalid_argument');
    }
    mkdirSync(join(base, 'outside'));
    symlinkSync(join(base, 'outside'), join(scope.workspace, 'notebooks'));
    const err = await svc.exportNotebook(scope, HISTORY, 'ok').catch((e: unknown) => e);
    expect((err as SandboxError).code).toBe('invalid_argument');
  });

  it('is valid according to nbformat itself', async (ctx) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import nbformat'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn(
        `skipping nbformat validation: python3 cannot import nbformat (${probe.stderr.trim().split('\n').pop()})`,
      );
      ctx.skip();
    }
    const r = await svc.exportNotebook(scope, HISTORY, 'valid');
    const check = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, nbformat\n' +
          'nb = nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT)\n' +
          'nbformat.validate(nb)\n' +
          'print(nb.nbformat, nb.nbformat_minor, len(nb.cells), len(nb.cells[1].outputs))',
        join(scope.workspace, r.path),
      ],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    expect(check.stdout.trim()).toBe('4 5 4 3');
  });
});
