// End-to-end: artifacts through the real server — plots captured as images and files, change tracking,
// categories, cleanup, file tools, resources and the notebook export.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, startStdio, type Harness } from './harness.js';
import { until } from './until.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

describe('artifacts', () => {
  let h: Harness;
  let sid: string;
  beforeAll(async () => {
    h = await startStdio();
    sid = (await h.sc('create_session', {})).session_id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('returns a plot made without show() as an image and an artifact', async () => {
    const res = await h.call('execute', {
      session_id: sid,
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])',
    });
    const images = res.content.filter((c) => c.type === 'image');
    expect(images).toHaveLength(1);
    expect(Buffer.from((images[0] as { data: string }).data, 'base64').subarray(0, 4)).toEqual(PNG_MAGIC);
    const sc = res.structuredContent as any;
    const created = sc.artifacts.created as any[];
    expect(created.map((a) => a.category)).toEqual(['plots']);
    expect(created[0].path).toMatch(/^plots\/figure_\d+_1\.png$/);
    expect(created[0].uri).toBe(`sandbox://sessions/${sid}/files/${created[0].path}`);
    expect(res.content.some((c) => c.type === 'resource_link' && c.uri === created[0].uri)).toBe(true);
  });

  it('gives two images for two figures in one call', async () => {
    const res = await h.call('execute', {
      session_id: sid,
      code: 'import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1, 2])\nplt.figure(); plt.bar([1, 2], [3, 4])\nNone',
    });
    expect(res.content.filter((c) => c.type === 'image')).toHaveLength(2);
    expect((res.structuredContent as any).artifacts.created).toHaveLength(2);
  });

  it('shows a DataFrame as html', async () => {
    const sc = await h.sc('execute', {
      session_id: sid,
      code: 'import pandas as pd\npd.DataFrame({"a": [1, 2], "b": [3, 4]})',
    });
    expect(sc.result['text/html']).toContain('<table');
    expect(sc.result['text/plain']).toContain('a  b');
  });

  it('categorizes by content first, extension second', async () => {
    const code = [
      'import zipfile, matplotlib.pyplot as plt',
      'open("data.csv", "w").write("a,b\\n1,2\\n")',
      'open("script.py", "w").write("print(1)\\n")',
      'fig = plt.figure(); plt.plot([1]); fig.savefig("picture.dat", format="png"); plt.close(fig)',
      'with zipfile.ZipFile("bundle.zip", "w") as z:\n    z.writestr("x.txt", "x")',
    ].join('\n');
    const sc = await h.sc('execute', { session_id: sid, code });
    const byPath = Object.fromEntries((sc.artifacts.created as any[]).map((a) => [a.path, a.category]));
    expect(byPath).toMatchObject({
      'data.csv': 'data',
      'script.py': 'code',
      'picture.dat': 'images',
      'bundle.zip': 'archives',
    });
    const cats = await h.sc('categorize_artifacts', { session_id: sid });
    expect(cats.categories.data).toContain('data.csv');
    const report = await h.sc('get_artifact_report', { session_id: sid });
    expect(report.by_category.plots.count).toBeGreaterThanOrEqual(3);
    const listed = await h.sc('list_artifacts', { session_id: sid, glob: '*.csv' });
    expect(listed.artifacts.map((a: any) => a.path)).toEqual(['data.csv']);
  });

  it('reports changed and deleted files of a call', async () => {
    const sc = await h.sc('execute', {
      session_id: sid,
      code: 'import os\nopen("data.csv", "a").write("3,4\\n")\nos.remove("script.py")',
    });
    expect(sc.artifacts.changed.map((a: any) => a.path)).toEqual(['data.csv']);
    expect(sc.artifacts.deleted).toEqual(['script.py']);
  });

  it('does not credit a call with what a background process wrote before it began, but lists it', async () => {
    await h.sc('execute', {
      session_id: sid,
      code:
        'import subprocess\n' +
        "subprocess.Popen(['sh', '-c', 'sleep 0.5; echo row > background.log'], start_new_session=True)",
    });
    const log = join(h.dataDir, 'sessions', sid, 'workspace', 'background.log');
    await until(() => existsSync(log), 'the background write');
    const sc = await h.sc('execute', { session_id: sid, code: 'open("mine.txt", "w").write("x")' });
    expect(sc.artifacts.created.map((a: any) => a.path)).toEqual(['mine.txt']);
    const listed = await h.sc('list_artifacts', { session_id: sid });
    expect(JSON.stringify(listed)).toContain('background.log');
  });

  it('removes only plots with cleanup_artifacts_by_type', async () => {
    const r = await h.sc('cleanup_artifacts_by_type', { session_id: sid, artifact_type: 'plots' });
    expect(r.removed_count).toBeGreaterThanOrEqual(3);
    expect((r.removed as any[]).every((x) => x.category === 'plots')).toBe(true);
    const left = await h.sc('list_artifacts', { session_id: sid });
    const paths = (left.artifacts as any[]).map((a) => a.path);
    expect(paths).toContain('data.csv');
    expect(paths).toContain('picture.dat');
    expect(paths.some((p: string) => p.startsWith('plots/'))).toBe(false);
  });

  it('writes and reads files, text and binary, and reads them as resources', async () => {
    await h.sc('write_file', { session_id: sid, path: 'in/note.txt', text: 'héllo' });
    const bin = Buffer.from([0, 1, 2, 250, 251]);
    await h.sc('write_file', { session_id: sid, path: 'in/raw.bin', base64: bin.toString('base64') });
    const seen = await h.sc('execute', {
      session_id: sid,
      code: 'open("in/note.txt").read(), open("in/raw.bin","rb").read()',
    });
    expect(seen.result['text/plain']).toBe("('héllo', b'\\x00\\x01\\x02\\xfa\\xfb')");
    expect((await h.sc('read_file', { session_id: sid, path: 'in/note.txt' })).text).toBe('héllo');
    const rb = await h.sc('read_file', { session_id: sid, path: 'in/raw.bin' });
    expect(rb.encoding).toBe('base64');
    expect(Buffer.from(rb.base64, 'base64')).toEqual(bin);

    const text = await h.client.readResource({ uri: `sandbox://sessions/${sid}/files/in/note.txt` });
    expect(text.contents[0]).toMatchObject({
      text: 'héllo',
      mimeType: expect.stringContaining('text/plain'),
    });
    const blob = await h.client.readResource({ uri: `sandbox://sessions/${sid}/files/in/raw.bin` });
    expect(Buffer.from((blob.contents[0] as { blob: string }).blob, 'base64')).toEqual(bin);
    const templates = await h.client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toContain(
      'sandbox://sessions/{session_id}/files/{+path}',
    );
    const listed = await h.client.listResources();
    expect(listed.resources.map((r) => r.uri)).toContain(`sandbox://sessions/${sid}/files/in/note.txt`);
  });

  it('refuses paths outside the workspace in every path argument', async () => {
    await h.sc('execute', { session_id: sid, code: 'import os\nos.symlink("/etc", "escape")' });
    for (const path of ['../x', '/etc/passwd', 'a/../../x', 'escape/hostname', 'bad\0name']) {
      const w = await h.call('write_file', { session_id: sid, path, text: 'x' });
      expect(w.isError, `write ${path}`).toBe(true);
      expect(errorOf(w).code).toBe('invalid_argument');
      const r = await h.call('read_file', { session_id: sid, path });
      expect(r.isError, `read ${path}`).toBe(true);
      expect(['invalid_argument', 'not_found']).toContain(errorOf(r).code);
    }
    await expect(
      h.client.readResource({ uri: `sandbox://sessions/${sid}/files/escape/hostname` }),
    ).rejects.toThrow();
    await expect(
      h.client.readResource({ uri: `sandbox://sessions/${sid}/files/..%2F..%2Fsandbox.db` }),
    ).rejects.toThrow();
  });

  it('does not serve another session or client files as resources', async () => {
    await expect(
      h.client.readResource({ uri: 'sandbox://sessions/s_AAAAAAAAAAAAAAAAAAAAAA/files/x.txt' }),
    ).rejects.toThrow();
  });

  it('exports the history as a valid notebook with code, outputs and images', async () => {
    const s2 = (await h.sc('create_session', {})).session_id;
    await h.sc('execute', { session_id: s2, code: 'print("hello")\n1 + 1' });
    await h.sc('execute', { session_id: s2, code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2])' });
    await h.call('execute', { session_id: s2, code: '1/0' });
    const r = await h.sc('export_notebook', { session_id: s2, name: 'analysis' });
    expect(r.path).toBe('notebooks/analysis.ipynb');
    const file = await h.sc('read_file', { session_id: s2, path: r.path, max_bytes: 10 * 1024 * 1024 });
    const nb = JSON.parse(file.text);
    expect(nb.nbformat).toBe(4);
    expect(nb.cells).toHaveLength(3);
    expect(nb.cells[0].outputs.map((o: any) => o.output_type)).toEqual(['stream', 'execute_result']);
    expect(
      nb.cells[1].outputs.some((o: any) => o.output_type === 'display_data' && o.data['image/png']),
    ).toBe(true);
    expect(
      nb.cells[2].outputs.some((o: any) => o.output_type === 'error' && o.ename === 'ZeroDivisionError'),
    ).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'nb-'));
    try {
      writeFileSync(join(dir, 'a.ipynb'), file.text);
      let hasNbformat = true;
      try {
        execFileSync('/usr/bin/python3', ['-c', 'import nbformat']);
      } catch {
        hasNbformat = false;
        console.log('nbformat is not installed; validated the notebook with json only');
      }
      const check = hasNbformat
        ? 'import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print("valid")'
        : 'import json,sys; json.load(open(sys.argv[1])); print("valid")';
      expect(
        execFileSync('/usr/bin/python3', ['-c', check, join(dir, 'a.ipynb')])
          .toString()
          .trim(),
      ).toBe('valid');
      expect(readFileSync(join(dir, 'a.ipynb')).length).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
