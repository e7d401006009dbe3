// The pure parts of web apps: app-kind detection, export names, commands for the box, the Dockerfile and the smoke
// test, the bundle's text, the log ring.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { compose, dockerfile, imageName, readme, type BundleSpec } from '../../src/webapps/bundle.js';
import {
  detectAppType,
  dockerCommand,
  requestedAppType,
  sessionCommand,
  smokeCommand,
} from '../../src/webapps/commands.js';
import { defaultExportName, validateExportName } from '../../src/webapps/export-names.js';
import { LogRing, lastTraceback } from '../../src/webapps/log-ring.js';

describe('detectAppType', () => {
  it('tells apps apart by their imports', () => {
    expect(detectAppType('import streamlit as st\nimport pandas')).toBe('streamlit');
    expect(detectAppType('from fastapi import FastAPI')).toBe('fastapi');
    expect(detectAppType('from flask import Flask, jsonify')).toBe('flask');
    expect(detectAppType('<!DOCTYPE html><p>hi</p>')).toBe('static');
    expect(detectAppType('print("no app")\n# import flask')).toBeNull();
    expect(detectAppType('import flaskish')).toBeNull();
  });
});

describe('requestedAppType', () => {
  it('reads auto (or nothing) as null and refuses a kind that does not exist', () => {
    expect(requestedAppType(undefined)).toBeNull();
    expect(requestedAppType('auto')).toBeNull();
    expect(requestedAppType('fastapi')).toBe('fastapi');
    expect(() => requestedAppType('django' as never)).toThrow(SandboxError);
    expect(() => requestedAppType('django' as never)).toThrow(/app_type must be one of flask, fastapi/);
  });
});

describe('export names', () => {
  it('accepts letters, digits, - and _ up to 64', () => {
    expect(validateExportName('my_app-2')).toBe('my_app-2');
    expect(validateExportName('x'.repeat(64))).toBe('x'.repeat(64));
  });

  it('refuses .., /, and anything else', () => {
    for (const bad of [
      '..',
      '../x',
      'a/b',
      '/abs',
      'a\\b',
      'a..b',
      '',
      'sp ace',
      'é',
      'x'.repeat(65),
      '.hidden',
    ]) {
      expect(() => validateExportName(bad), bad).toThrow(SandboxError);
      try {
        validateExportName(bad);
      } catch (e) {
        expect((e as SandboxError).code).toBe('invalid_argument');
      }
    }
  });

  it('makes a valid default name', () => {
    const n = defaultExportName('flask', new Date('2026-01-02T03:04:05Z'));
    expect(n).toBe('flask-app-20260102-030405');
    expect(validateExportName(n)).toBe(n);
  });
});

describe('commands', () => {
  it('serves session apps through the launcher, headless Streamlit, or http.server', () => {
    expect(sessionCommand('flask', 'apps/a/app.py').argv).toEqual([
      '{python}',
      '-u',
      '{agent_dir}/app_launch.py',
      'flask',
      'apps/a/app.py',
    ]);
    const st = sessionCommand('streamlit', 'apps/a/app.py').argv.join(' ');
    expect(st).toContain('-m streamlit run apps/a/app.py');
    expect(st).toContain('--server.headless true --server.port {port} --server.address 127.0.0.1');
    expect(st).toContain('--browser.gatherUsageStats false');
    expect(sessionCommand('static', 'site').argv).toEqual([
      '{python}',
      '-m',
      'http.server',
      '{port}',
      '--bind',
      '127.0.0.1',
      '--directory',
      'site',
    ]);
  });

  it('runs the Dockerfile server in the smoke test, or says which stand-in it used', () => {
    expect(dockerCommand('flask', 'server')).toEqual([
      'python3',
      '-m',
      'gunicorn',
      '--bind',
      '0.0.0.0:8000',
      '--workers',
      '2',
      '--access-logfile',
      '-',
      'app:server',
    ]);
    const same = smokeCommand('flask', 'server', () => true);
    expect(same.same).toBe(true);
    expect(same.argv).toEqual([
      '{python}',
      '-m',
      'gunicorn',
      '--bind',
      '127.0.0.1:{port}',
      '--workers',
      '2',
      '--access-logfile',
      '-',
      'app:server',
    ]);
    const standIn = smokeCommand('flask', 'server', (m) => m !== 'gunicorn');
    expect(standIn.same).toBe(false);
    expect(standIn.argv.slice(0, 5)).toEqual(['{python}', '-m', 'flask', '--app', 'app:server']);
    expect(standIn.note).toContain('gunicorn is not installed');
    expect(dockerCommand('fastapi', 'create_app()')).toEqual([
      'python3',
      '-m',
      'uvicorn',
      '--factory',
      'app:create_app',
      '--host',
      '0.0.0.0',
      '--port',
      '8000',
    ]);
    expect(dockerCommand('streamlit', 'app')).toContain('--server.port=8501');
  });
});

describe('bundle text', () => {
  const spec: BundleSpec = {
    name: 'My_App',
    type: 'fastapi',
    appObject: 'api',
    pythonVersion: '3.12.4',
    requirements: ['fastapi==0.110.0', 'uvicorn==0.29.0'],
    warnings: ['x is not installed'],
  };

  it('writes a non-root Dockerfile with its base and index as build arguments, the right server, EXPOSE and a HEALTHCHECK', () => {
    const d = dockerfile(spec);
    // the base image and the package index are build arguments; the default base is the session's Python, slim
    expect(d).toMatch(/^ARG BASE_IMAGE=python:3\.12-slim\nFROM \$\{BASE_IMAGE\}\nARG PIP_INDEX_URL$/m);
    expect(d).toMatch(/^RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r requirements\.txt$/m);
    expect(d).toMatch(/^USER appuser$/m);
    expect(d.indexOf('USER appuser')).toBeLessThan(d.indexOf('CMD ["python3", "-m", "uvicorn"'));
    expect(d).toMatch(/^EXPOSE 8000$/m);
    expect(d).toMatch(/^HEALTHCHECK .*\n {2}CMD \["python3", ?"-c"/m);
    expect(d).toContain('CMD ["python3", "-m", "uvicorn", "app:api", "--host", "0.0.0.0", "--port", "8000"]');
  });

  it('names the image in lowercase and explains all three ways to run', () => {
    expect(imageName('My_App')).toBe('my_app');
    expect(compose(spec)).toContain('image: my_app:latest');
    expect(compose(spec)).toContain('"8000:8000"');
    const r = readme(spec);
    for (const s of [
      'docker compose up --build',
      'docker build -t my_app .',
      'docker run --rm -p 8000:8000 my_app',
      '--build-arg BASE_IMAGE=<image> --build-arg PIP_INDEX_URL=<index URL>',
      'uvicorn app:api --port 8000',
      'x is not installed',
    ]) {
      expect(r).toContain(s);
    }
  });
});

describe('LogRing', () => {
  it('keeps the last lines within its bounds, the first lines, and counts what it dropped', () => {
    const ring = new LogRing(3, 1000, 2);
    ring.push('a\nb\nc\nd');
    // 'd' has no newline yet: it is shown, but only complete lines count against the bound.
    expect(ring.tail(10)).toEqual(['a', 'b', 'c', 'd']);
    ring.push('e\n');
    expect(ring.tail(10)).toEqual(['b', 'c', 'de']);
    expect(ring.tail(1)).toEqual(['de']);
    expect(ring.first(5)).toEqual(['a', 'b']);
    expect(ring.totalLines).toBe(4);
    const small = new LogRing(100, 10);
    small.push('0123456789\nabc\n');
    expect(small.tail(5)).toEqual(['abc']);
  });

  it('finds the last traceback', () => {
    const lines = [
      'x',
      'Traceback (most recent call last):',
      '  File "app.py", line 2, in <module>',
      '    1/0',
      'ZeroDivisionError: division by zero',
      'after',
    ];
    expect(lastTraceback(lines)).toBe(lines.slice(1, 5).join('\n'));
    expect(lastTraceback(['nothing'])).toBeNull();
  });
});
