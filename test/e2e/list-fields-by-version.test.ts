// Listings hold only what the negotiated protocol version defines: each item of resources/list,
// resources/templates/list, prompts/list and tools/list must validate, with no unknown key, against the schema of
// 2025-03-26 (SDK 1.12 over stdio) and of 2024-11-05 (a raw client over HTTP). The schemas below are those of the spec
// (schema/2024-11-05 and schema/2025-03-26 schema.json): `title`, `_meta` and `icons` came later.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client as Client112 } from 'sdk-1-12/client/index.js';
import { StdioClientTransport as Stdio112 } from 'sdk-1-12/client/stdio.js';
import { connectHttp, startHttpProcess } from './harness.js';
import { stdioServer, type StdioServer } from './stdio-server.js';

const Annotated = z
  .object({
    audience: z.array(z.enum(['user', 'assistant'])).optional(),
    priority: z.number().min(0).max(1).optional(),
  })
  .strict();
const Resource = z
  .object({
    uri: z.string(),
    name: z.string(),
    description: z.string().optional(),
    mimeType: z.string().optional(),
    size: z.number().int().optional(),
    annotations: Annotated.optional(),
  })
  .strict();
const ResourceTemplate = z
  .object({
    uriTemplate: z.string(),
    name: z.string(),
    description: z.string().optional(),
    mimeType: z.string().optional(),
    annotations: Annotated.optional(),
  })
  .strict();
const Prompt = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    arguments: z
      .array(
        z
          .object({ name: z.string(), description: z.string().optional(), required: z.boolean().optional() })
          .strict(),
      )
      .optional(),
  })
  .strict();
const Tool20241105 = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    inputSchema: z.object({ type: z.literal('object') }).passthrough(),
  })
  .strict();
const Tool20250326 = Tool20241105.extend({
  annotations: z
    .object({
      title: z.string().optional(),
      readOnlyHint: z.boolean().optional(),
      destructiveHint: z.boolean().optional(),
      idempotentHint: z.boolean().optional(),
      openWorldHint: z.boolean().optional(),
    })
    .strict()
    .optional(),
}).strict();

interface Lists {
  resources: unknown[];
  resourceTemplates: unknown[];
  prompts: unknown[];
  tools: unknown[];
}

/** Every item against its schema; the failures name the item and the offending keys. */
function problems(lists: Lists, tool: z.ZodType): string[] {
  const out: string[] = [];
  const check = (kind: string, schema: z.ZodType, items: unknown[]) => {
    expect(items.length, kind).toBeGreaterThan(0);
    for (const item of items) {
      const r = schema.safeParse(item);
      if (!r.success) out.push(`${kind} ${JSON.stringify(item).slice(0, 80)}: ${r.error.message}`);
    }
  };
  check('resource', Resource, lists.resources);
  check('resource template', ResourceTemplate, lists.resourceTemplates);
  check('prompt', Prompt, lists.prompts);
  check('tool', tool, lists.tools);
  return out;
}

describe('listings for the negotiated protocol version', () => {
  let http: Awaited<ReturnType<typeof startHttpProcess>>;
  let stdio: StdioServer;
  let client: Client112;

  beforeAll(async () => {
    http = await startHttpProcess();
    stdio = stdioServer();
    client = new Client112({ name: 'sdk-1.12', version: '1.0.0' });
    await client.connect(new Stdio112(stdio.params));
  }, 60_000);
  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await http?.stop();
    stdio?.remove();
    if (http) rmSync(http.dataDir, { recursive: true, force: true });
  });

  it('SDK 1.12 (2025-03-26) over stdio gets items of the 2025-03-26 schema only', async () => {
    // a workspace file, so resources/list holds a file entry beside the server's own resources
    await client.callTool({ name: 'write_file', arguments: { path: 'listed.txt', text: 'hi' } });
    const lists: Lists = {
      resources: (await client.listResources()).resources,
      resourceTemplates: (await client.listResourceTemplates()).resourceTemplates,
      prompts: (await client.listPrompts()).prompts,
      tools: (await client.listTools()).tools,
    };
    expect(lists.resources.some((r) => String((r as { uri: string }).uri).endsWith('/listed.txt'))).toBe(
      true,
    );
    expect(problems(lists, Tool20250326)).toEqual([]);
  });

  it('a raw 2024-11-05 client over HTTP gets items of the 2024-11-05 schema only', async () => {
    const post = async (id: number, method: string, params: Record<string, unknown> = {}) => {
      const res = await fetch(http.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${http.token}`,
          'mcp-protocol-version': '2024-11-05',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
      });
      const body = await res.text();
      // a JSON body, or one server-sent event holding it
      const json = res.headers.get('content-type')?.includes('text/event-stream')
        ? /^data: (.*)$/m.exec(body)![1]!
        : body;
      const msg = JSON.parse(json) as { result?: Record<string, unknown[]>; error?: unknown };
      expect(msg.error, `${method}: ${json}`).toBeUndefined();
      return msg.result!;
    };
    const init = await post(1, 'initialize', {
      protocolVersion: '2024-11-05',
      capabilities: {},
      clientInfo: { name: 'raw-2024-11-05', version: '1.0.0' },
    });
    expect(init['protocolVersion']).toBe('2024-11-05');
    await post(2, 'tools/call', { name: 'write_file', arguments: { path: 'listed.txt', text: 'hi' } });
    const lists: Lists = {
      resources: (await post(3, 'resources/list'))['resources']!,
      resourceTemplates: (await post(4, 'resources/templates/list'))['resourceTemplates']!,
      prompts: (await post(5, 'prompts/list'))['prompts']!,
      tools: (await post(6, 'tools/list'))['tools']!,
    };
    expect(problems(lists, Tool20241105)).toEqual([]);
  });

  it('a 2025-11-25 client still gets the titles its version defines', async () => {
    const v2 = await connectHttp(http.url, http.token);
    try {
      const { prompts } = await v2.listPrompts();
      expect(prompts.every((p) => typeof p.title === 'string')).toBe(true);
      const { resourceTemplates } = await v2.listResourceTemplates();
      expect(resourceTemplates[0]!.title).toBe('Workspace file');
      const { tools } = await v2.listTools();
      expect(tools.find((t) => t.name === 'execute')!.title).toBe('Run Python');
    } finally {
      await v2.close();
    }
  });
});
