// Nothing appears twice in one result: a large stream, a long final value or an inline image goes out once, through
// the SDK 1.x client (which checks structuredContent against the tool's output schema), so a result with 100 KB of
// output is about 100 KB, not twice that; the text still carries short output whole for a model to read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { stdioServer, type StdioServer } from './stdio-server.js';

interface Result {
  content: Array<{ type: string; text?: string; data?: string }>;
  structuredContent?: Record<string, any>;
  isError?: boolean;
}

const OUT = 100_000;
/** What a result may weigh beside the output it carries once: the other fields, a preview in the text, JSON. */
const ONCE = 1.3;

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
const textOf = (r: Result) =>
  r.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text ?? '')
    .join('\n');
const count = (hay: string, needle: string) => hay.split(needle).length - 1;

describe('a large field appears once in a result', () => {
  let client: V1Client;
  let server: StdioServer;

  beforeAll(async () => {
    // streams up to 256 KiB come back whole, so the 100 KB below is all in the result
    server = stdioServer({ SANDBOX_MCP_OUTPUT_CAP: String(256 * 1024) });
    client = new V1Client({ name: 'sdk-1.x', version: '1.0.0' });
    await client.connect(new V1Stdio(server.params));
    await client.listTools(); // as a real client does: the SDK keeps the output schemas to check results
  }, 60_000);
  afterAll(async () => {
    await client?.close().catch(() => undefined);
    server?.remove();
  });

  const call = async (name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as unknown as Result;

  it('an execute with 100 KB of stdout weighs less than 1.3 times its output', async () => {
    const r = await call('execute', { code: `print("x" * ${OUT})` });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent!.stdout).toBe('x'.repeat(OUT) + '\n');
    expect(r.structuredContent!.stdout_truncated).toBe(false);
    expect(size(r)).toBeLessThan(ONCE * OUT);
    // The text tells a model how much there is and where the whole is, with the ends of it.
    const text = textOf(r);
    expect(text.length).toBeLessThan(4096);
    expect(text).toContain('structuredContent.stdout');
    expect(text).toContain(`${OUT + 1} characters`);
  });

  it('the same for 100 KB of stderr and for a 100 KB final value', async () => {
    const err = await call('execute', { code: `import sys\nsys.stderr.write("e" * ${OUT})` });
    expect(err.structuredContent!.stderr).toHaveLength(OUT);
    expect(size(err)).toBeLessThan(ONCE * OUT);
    const value = await call('execute', { code: `"v" * ${OUT}` });
    expect(value.structuredContent!.result['text/plain']).toHaveLength(OUT + 2);
    expect(size(value)).toBeLessThan(ONCE * OUT);
    expect(textOf(value)).toContain("structuredContent.result['text/plain']");
  });

  it('a shell command with 100 KB of output weighs less than 1.3 times its output', async () => {
    const r = await call('shell_execute', { command: `head -c ${OUT} /dev/zero | tr '\\0' y` });
    expect(r.structuredContent!.stdout).toBe('y'.repeat(OUT));
    expect(size(r)).toBeLessThan(ONCE * OUT);
    expect(textOf(r)).toContain('structuredContent.stdout');
  });

  it('short output is still whole in the text, and once more in structuredContent', async () => {
    const r = await call('execute', { code: 'print("hello there")\n6 * 7' });
    expect(r.structuredContent!.stdout).toBe('hello there\n');
    expect(r.structuredContent!.result['text/plain']).toBe('42');
    expect(textOf(r)).toContain('hello there');
    expect(textOf(r)).toContain('Out[');
  });

  /** A cell whose value is a real PNG of noise (it does not compress), side by side pixels. */
  const noisePng = (side: number) =>
    [
      'import os, struct, zlib',
      'def chunk(kind, data):',
      '    body = kind + data',
      '    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))',
      `w = h = ${side}`,
      'raw = b"".join(b"\\x00" + os.urandom(w * 3) for _ in range(h))',
      'png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))',
      'png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")',
      'class Noise:',
      '    def _repr_png_(self):',
      '        return png',
      'Noise()',
    ].join('\n');

  it('an image sent as image content is not in structuredContent again', async () => {
    const r = await call('execute', { code: noisePng(140) }); // about 60 KB
    expect(r.isError).toBeFalsy();
    const image = r.content.find((c) => c.type === 'image');
    expect(image?.data?.length).toBeGreaterThan(50_000);
    const wire = JSON.stringify(r);
    expect(count(wire, image!.data!.slice(0, 2000))).toBe(1);
    expect(size(r)).toBeLessThan(ONCE * image!.data!.length);
    // structuredContent says where the image went.
    expect(r.structuredContent!.result['image/png']).toEqual({ content_index: r.content.indexOf(image!) });
  });

  it('an image too large to go inline is left to its workspace file, not sent as base64 data', async () => {
    const r = await call('execute', { code: noisePng(400) }); // about 480 KB, over the 256 KiB inline limit
    expect(r.isError).toBeFalsy();
    expect(r.content.some((c) => c.type === 'image')).toBe(false);
    expect(size(r)).toBeLessThan(16 * 1024);
    const standIn = r.structuredContent!.result['image/png'];
    expect(standIn.omitted_bytes).toBeGreaterThan(256 * 1024);
    const saved = r.structuredContent!.artifacts.created.map((a: { path: string }) => a.path);
    expect(saved).toContain(standIn.file);
    // the file holds the whole image
    const read = (await call('read_file', { path: standIn.file, length: 1024 * 1024 })) as Result;
    expect(read.structuredContent!.size).toBe(standIn.omitted_bytes);
  });

  it('categorize_artifacts lists the paths in structuredContent, and the text only their ends', async () => {
    await call('execute', {
      code: 'import os\nos.makedirs("many", exist_ok=True)\nfor i in range(400):\n    open(f"many/file_{i:04}.csv", "w").write("a\\n")',
    });
    const r = await call('categorize_artifacts', { limit: 1000 });
    const paths = Object.values(r.structuredContent!.categories as Record<string, string[]>).flat();
    expect(paths).toContain('many/file_0399.csv');
    const listed = Buffer.byteLength(JSON.stringify(r.structuredContent));
    expect(listed).toBeGreaterThan(8000);
    expect(size(r)).toBeLessThan(ONCE * listed);
    expect(textOf(r)).toContain('structuredContent.categories');
  });

  it('get_web_app_logs has the lines in structuredContent, and the text only their ends', async () => {
    const started = await call('start_web_app', {
      app_type: 'flask',
      code: [
        'for i in range(3000):',
        '    print(f"app log line {i:04}", flush=True)',
        'from flask import Flask',
        'app = Flask(__name__)',
        '@app.get("/")',
        'def home():',
        '    return "ok"',
      ].join('\n'),
    });
    expect(started.isError, JSON.stringify(started.content)).toBeFalsy();
    const app_id = started.structuredContent!.app_id as string;
    try {
      const r = await call('get_web_app_logs', { app_id, tail: 2000 });
      const lines = r.structuredContent!.lines as string[];
      expect(lines.join('\n')).toContain('app log line 2999');
      const listed = Buffer.byteLength(JSON.stringify(r.structuredContent));
      expect(size(r)).toBeLessThan(ONCE * listed);
      expect(textOf(r)).toContain('structuredContent.lines');
    } finally {
      await call('stop_web_app', { app_id });
    }
  }, 60_000);
});
