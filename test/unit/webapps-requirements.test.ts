// Requirement detection: the probe (Python's ast and importlib.metadata, run here on the host's Python) and the pure
// mapping to requirements.txt lines.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalizeName } from '../../src/packages/spec.js';
import type { ProbeResult } from '../../src/webapps/agent-ops.js';
import { buildRequirements, extraDistributions } from '../../src/webapps/requirements.js';

const PROBE_PY = resolve(import.meta.dirname, '../../src/agent/app_probe.py');
const dirs: string[] = [];

function probe(code: string, files: Record<string, string> = {}): ProbeResult {
  const dir = mkdtempSync(join(tmpdir(), 'webapps-probe-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const r = spawnSync('/usr/bin/python3', ['-I', PROBE_PY], {
    cwd: dir,
    input: JSON.stringify({ code, search_dirs: ['.'], extra_dists: extraDistributions('flask') }),
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as ProbeResult;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const DATA_APP = `import os, json, sys
import numpy as np
import pandas as pd
from PIL import Image
from sklearn.linear_model import LinearRegression
import yaml
import mylib
from flask import Flask
app = Flask(__name__)
`;

describe('requirement detection with the real probe', () => {
  it('maps numpy, pandas, PIL, sklearn and yaml to their distributions and leaves out stdlib and local modules', () => {
    const facts = probe(DATA_APP, { 'mylib.py': 'import bs4\n' });
    expect(facts.local).toEqual(['mylib']);
    expect(facts.local_files).toEqual(['mylib.py']);
    expect(facts.stdlib).toEqual(expect.arrayContaining(['os', 'json', 'sys']));
    expect(facts.app_object).toBe('app');
    const reqs = buildRequirements(facts, 'flask');
    const names = reqs.entries.map((e) => e.distribution);
    // The local module's own import (bs4) counts; the local module itself does not.
    expect(names.map(normalizeName).sort()).toEqual(
      ['beautifulsoup4', 'flask', 'gunicorn', 'numpy', 'pandas', 'pillow', 'pyyaml', 'scikit-learn'].sort(),
    );
    expect(names).toContain('pillow');
    expect(names).toContain('PyYAML');
    expect(names).toContain('scikit-learn');
    expect(reqs.lines.some((l) => /^(mylib|os|json|sys)\b/.test(l))).toBe(false);
    // Pinned to what this Python has installed; a missing one is listed unpinned, with a warning.
    const numpy = reqs.entries.find((e) => e.distribution === 'numpy')!;
    expect(numpy.version).toMatch(/^\d+\.\d+/);
    expect(reqs.lines).toContain(`numpy==${numpy.version}`);
    const sk = reqs.entries.find((e) => e.distribution === 'scikit-learn')!;
    if (sk.version === null) expect(reqs.warnings.join('\n')).toContain('scikit-learn');
    else expect(reqs.lines).toContain(`scikit-learn==${sk.version}`);
  });

  it('finds the app object, a factory, and a run() that would block an import', () => {
    expect(probe('from fastapi import FastAPI\napi: FastAPI = FastAPI()\n').app_object).toBe('api');
    expect(probe('from flask import Flask\ndef create_app():\n    return Flask(__name__)\n').app_object).toBe(
      'create_app()',
    );
    expect(probe('from flask import Flask\napp = Flask(__name__)\napp.run()\n').unguarded_run).toBe(true);
    expect(
      probe('from flask import Flask\napp = Flask(__name__)\nif __name__ == "__main__":\n    app.run()\n')
        .unguarded_run,
    ).toBe(false);
  });

  it('reports code that does not parse', () => {
    const r = probe('def broken(:\n') as unknown as { error: { code: string; line: number } };
    expect(r.error.code).toBe('syntax_error');
    expect(r.error.line).toBe(1);
  });
});

describe('requirement mapping (pure)', () => {
  const facts = {
    imports: ['cv2', 'google', 'json', 'helpers', 'notinstalled', 'requests'],
    stdlib: ['json'],
    local: ['helpers'],
    dists: { cv2: [], google: ['google-auth', 'protobuf'], notinstalled: [], requests: ['requests'] },
    versions: { requests: '2.31.0+dfsg', 'opencv-python': '4.9.0.80', fastapi: '0.110.0' },
  };

  it('uses the table for well-known mismatches, the session mapping otherwise, and the module name as a last guess', () => {
    const r = buildRequirements(facts, 'fastapi');
    const by = Object.fromEntries(r.entries.map((e) => [e.module, e]));
    expect(by.cv2).toMatchObject({ distribution: 'opencv-python', version: '4.9.0.80', source: 'table' });
    expect(by.requests).toMatchObject({ distribution: 'requests', version: '2.31.0', source: 'installed' });
    expect(by.notinstalled).toMatchObject({ distribution: 'notinstalled', version: null, source: 'guess' });
    expect(by.google!.distribution).toBe('google-auth');
    expect(by.fastapi).toMatchObject({ version: '0.110.0', source: 'server' });
    expect(by.uvicorn).toMatchObject({ version: null, source: 'server' });
    expect(r.lines).toEqual([
      'fastapi==0.110.0',
      'google-auth',
      'notinstalled',
      'opencv-python==4.9.0.80',
      'requests==2.31.0',
      'uvicorn',
    ]);
    expect(r.warnings.join('\n')).toContain('local version label dropped');
    expect(r.warnings.join('\n')).toContain("'notinstalled' is not installed");
  });

  it('adds nothing for a static site', () => {
    expect(
      buildRequirements({ imports: [], stdlib: [], local: [], dists: {}, versions: {} }, 'static').lines,
    ).toEqual([]);
  });
});
