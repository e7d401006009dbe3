// Rich-output capture in the kernel: matplotlib figures, PIL images and image reprs become display_data and workspace files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, resultText, streamText, type AgentEvent, type Reply } from './agent-client.js';

type Display = Extract<AgentEvent, { type: 'display_data' }>;
type Result = Extract<AgentEvent, { type: 'execute_result' }>;

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function displays(r: Reply): Display[] {
  return r.events.filter((e): e is Display => e.type === 'display_data');
}

function result(r: Reply): Result | undefined {
  return r.events.find((e): e is Result => e.type === 'execute_result');
}

function decodePng(b64: unknown): Buffer {
  expect(typeof b64).toBe('string');
  const png = Buffer.from(b64 as string, 'base64');
  expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
  return png;
}

describe('kernel rich-output capture', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start({ matplotlib: true });
  });
  afterAll(async () => {
    await agent?.close();
  });

  /** Checks a figure/image display: valid PNG, saved at the named workspace file with the same bytes. */
  function expectSavedPng(
    md: Record<string, unknown>,
    data: Record<string, unknown>,
    pattern: RegExp,
  ): string {
    const png = decodePng(data['image/png']);
    const filename = md['filename'] as string;
    expect(filename).toMatch(pattern);
    const path = join(agent.workspace, filename);
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path).equals(png)).toBe(true);
    return filename;
  }

  it('sends nothing for a cell that uses no plotting', async () => {
    const r = await agent.execute('x = 1\nx + 1');
    expect(r.final.status).toBe('ok');
    expect(displays(r)).toHaveLength(0);
    expect(existsSync(join(agent.workspace, 'plots'))).toBe(false);
    expect(existsSync(join(agent.workspace, 'images'))).toBe(false);
  });

  it('captures a figure left open at the end of the cell, without show()', async () => {
    const r = await agent.execute('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);');
    expect(r.final.status).toBe('ok');
    const shown = displays(r);
    expect(shown).toHaveLength(1);
    const d = shown[0] as Display;
    expect(d.metadata['source']).toBe('matplotlib');
    expect(d.data['text/plain']).toMatch(/^<Figure size \d+x\d+ with 1 Axes>$/);
    const n = r.final.execution_count;
    expect(expectSavedPng(d.metadata, d.data, /^plots\/figure_\d+_1\.png$/)).toBe(`plots/figure_${n}_1.png`);
    // Closed after capture: the next cell shows nothing.
    expect(displays(await agent.execute('x = 2'))).toHaveLength(0);
  });

  it('gives two displays and two files for two figures in one cell', async () => {
    const r = await agent.execute('plt.figure()\nplt.plot([1])\nplt.figure()\nplt.plot([2]);');
    const shown = displays(r);
    expect(shown).toHaveLength(2);
    const n = r.final.execution_count;
    const names = shown.map((d) => expectSavedPng(d.metadata, d.data, /^plots\//));
    expect(names).toEqual([`plots/figure_${n}_1.png`, `plots/figure_${n}_2.png`]);
  });

  it('captures at plt.show() and not again at the end of the cell', async () => {
    const r = await agent.execute('plt.plot([3, 1, 2])\nplt.show()\nprint(plt.get_fignums())');
    expect(r.final.status).toBe('ok');
    const shown = displays(r);
    expect(shown).toHaveLength(1);
    expectSavedPng((shown[0] as Display).metadata, (shown[0] as Display).data, /^plots\/figure_\d+_1\.png$/);
    // Sent and closed at show(), so no figure is open after it.
    expect(streamText(r, 'stdout')).toBe('[]\n');
  });

  it('keeps the order of show() and figures made after it', async () => {
    const r = await agent.execute(
      'plt.plot([1, 2])\nplt.title("first")\nplt.show()\nplt.figure(figsize=(2, 2))\nplt.plot([2, 1]);',
    );
    const shown = displays(r);
    expect(shown).toHaveLength(2);
    expect(shown.map((d) => d.data['text/plain'])).toEqual([
      '<Figure size 640x480 with 1 Axes>',
      '<Figure size 200x200 with 1 Axes>',
    ]);
    const n = r.final.execution_count;
    expect(shown.map((d) => d.metadata['filename'])).toEqual([
      `plots/figure_${n}_1.png`,
      `plots/figure_${n}_2.png`,
    ]);
  });

  it('sends no image for an empty figure', async () => {
    const r = await agent.execute('plt.figure()');
    expect(resultText(r)).toMatch(/^<Figure size \d+x\d+ with 0 Axes>$/);
    expect(result(r)?.data['image/png']).toBeUndefined();
    expect(displays(r)).toHaveLength(0);
  });

  it('renders a Figure given to display() or left as the value once, not again at the end', async () => {
    const r = await agent.execute('fig, ax = plt.subplots()\nax.plot([1, 2])\ndisplay(fig)');
    expect(displays(r)).toHaveLength(1);
    const last = await agent.execute('fig, ax = plt.subplots()\nax.plot([2, 1])\nfig');
    expect(displays(last)).toHaveLength(0);
    const res = result(last) as Result;
    expect(res.metadata['source']).toBe('matplotlib');
    expectSavedPng(res.metadata, res.data, /^plots\/figure_\d+_1\.png$/);
  });

  it('still captures figures when the cell raises', async () => {
    const r = await agent.execute('plt.plot([1, 2])\n1 / 0');
    expect(r.final.status).toBe('error');
    expect(displays(r)).toHaveLength(1);
  });

  it('reports a figure that cannot be drawn on stderr and closes it', async () => {
    const r = await agent.execute('plt.plot([1])\nplt.title("$\\\\frac{$");');
    expect(r.final.status).toBe('ok');
    expect(displays(r)).toHaveLength(0);
    expect(streamText(r, 'stderr')).toMatch(/could not be rendered/);
    expect(displays(await agent.execute('x = 3'))).toHaveLength(0);
  });

  it('closes the figures of an interrupted cell without rendering them', async () => {
    const r = await agent.execute('plt.plot([1])\nimport time\ntime.sleep(10)', { timeout_ms: 500 });
    expect(r.final.status).toBe('timeout');
    expect(r.final.state_preserved).toBe(true);
    expect(displays(r)).toHaveLength(0);
    expect(displays(await agent.execute('x = 4'))).toHaveLength(0);
  });

  it('turns PIL Image.show() into a display and a file under images/', async () => {
    const r = await agent.execute('from PIL import Image\nImage.new("RGB", (10, 10), "blue").show()');
    expect(r.final.status).toBe('ok');
    const shown = displays(r);
    expect(shown).toHaveLength(1);
    const d = shown[0] as Display;
    expect(d.metadata['source']).toBe('pil');
    const n = r.final.execution_count;
    expect(expectSavedPng(d.metadata, d.data, /^images\//)).toBe(`images/image_${n}_1.png`);
  });

  it('gives image/png for a PIL image as the value of the cell, saved under images/', async () => {
    const r = await agent.execute('Image.new("RGB", (4, 3), "red")');
    const res = result(r) as Result;
    expect(res).toBeDefined();
    expect(res.metadata['source']).toBe('pil');
    const n = r.final.execution_count;
    expect(expectSavedPng(res.metadata, res.data, /^images\//)).toBe(`images/image_${n}_1.png`);
    expect(displays(r)).toHaveLength(0);
  });

  it('saves an SVG representation passed to display() as a .svg file', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>';
    const r = await agent.execute(
      `class Badge:\n    def _repr_svg_(self):\n        return '${svg}'\ndisplay(Badge())\ndisplay(Badge())`,
    );
    const shown = displays(r);
    expect(shown).toHaveLength(2);
    const n = r.final.execution_count;
    expect(shown.map((d) => d.metadata['filename'])).toEqual([
      `images/display_${n}_1.svg`,
      `images/display_${n}_2.svg`,
    ]);
    for (const d of shown) {
      expect(d.data['image/svg+xml']).toBe(svg);
      expect(d.metadata['source']).toBe('display');
      expect(readFileSync(join(agent.workspace, d.metadata['filename'] as string), 'utf8')).toBe(svg);
    }
  });

  it('still sends the image, without a filename, when the file cannot be written', async () => {
    const r = await agent.execute(
      'import shutil\nshutil.rmtree("images")\nopen("images", "w").close()\nImage.new("L", (2, 2)).show()',
    );
    const shown = displays(r);
    expect(shown).toHaveLength(1);
    const d = shown[0] as Display;
    decodePng(d.data['image/png']);
    expect(d.metadata['filename']).toBeUndefined();
    expect(streamText(r, 'stderr')).toMatch(/could not save images\/image_\d+_1\.png/);
    await agent.execute('import os\nos.remove("images")');
  });

  it('saves PNG bytes from _repr_png_ as the value of the cell', async () => {
    const r = await agent.execute(
      'import io\nclass Dot:\n    def _repr_png_(self):\n        b = io.BytesIO()\n        Image.new("L", (2, 2)).save(b, "PNG")\n        return b.getvalue()\nDot()',
    );
    const res = result(r) as Result;
    expect(res.metadata['source']).toBe('display');
    const n = r.final.execution_count;
    expect(expectSavedPng(res.metadata, res.data, /^images\//)).toBe(`images/display_${n}_1.png`);
  });
});

describe('kernel rich-output capture: first import of pyplot in the cell that shows', () => {
  let agent: AgentClient;
  beforeAll(async () => {
    agent = await AgentClient.start({ matplotlib: true });
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('captures a show() bound by from-import in the same cell', async () => {
    const r = await agent.execute(
      'from matplotlib.pyplot import plot, show, get_fignums\nplot([1, 2])\nshow()\nprint(get_fignums())',
    );
    expect(r.final.status).toBe('ok');
    expect(streamText(r, 'stdout')).toBe('[]\n');
    expect(displays(r)).toHaveLength(1);
    const d = displays(r)[0] as Display;
    decodePng(d.data['image/png']);
    expect(existsSync(join(agent.workspace, d.metadata['filename'] as string))).toBe(true);
  });
});
