// Documentation generated from the live registry (tools, prompts, resources) and configuration, so what
// the server says about itself cannot drift from the code: the overview and catalog resources, docs/tools.md.
import { z } from 'zod';
import type { Config } from '../config.js';
import { PROMPTS } from './prompts.js';
import { allTools } from './registry.js';
import type { ToolDef, ToolProfile } from './tool-def.js';
import { FILE_URI_TEMPLATE } from './resources.js';
import { toolJsonSchema } from './schema-snapshot.js';

export const OVERVIEW_URI = 'sandbox://server/overview';
export const CATALOG_URI = 'sandbox://catalog/interfaces';

type JsonSchema = Record<string, unknown>;

export function jsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

export const RESOURCE_ENTRIES = [
  {
    uri: OVERVIEW_URI,
    mimeType: 'text/markdown',
    description: 'What this server is, the isolation and limits in force, tools by domain.',
  },
  {
    uri: CATALOG_URI,
    mimeType: 'application/json',
    description: 'Tools, prompts and resources with their schemas.',
  },
  {
    uriTemplate: FILE_URI_TEMPLATE,
    mimeType: '(the file’s type)',
    description: "A file in one of your sessions' workspaces.",
  },
];

/** Example arguments: the tool's own, or its required fields filled from the schema. */
export function exampleArgs(tool: ToolDef): Record<string, unknown> {
  if (tool.example) return tool.example;
  const schema = toolJsonSchema(tool.inputSchema, 'input') as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  const out: Record<string, unknown> = {};
  for (const key of schema.required ?? []) out[key] = sampleValue(key, schema.properties?.[key] ?? {});
  return out;
}

function sampleValue(key: string, s: JsonSchema): unknown {
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[])[0];
  switch (s['type']) {
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return {};
    default:
      return key === 'code' ? 'print("hello")' : `<${key}>`;
  }
}

export interface Catalog {
  server: { name: string; version: string };
  tools: Array<{
    name: string;
    title: string;
    domain: string;
    profile: ToolProfile;
    description: string;
    annotations: Record<string, unknown>;
    inputSchema: JsonSchema;
    outputSchema: JsonSchema;
    example: Record<string, unknown>;
  }>;
  prompts: Array<{ name: string; title: string; description: string; arguments: JsonSchema }>;
  resources: typeof RESOURCE_ENTRIES;
}

export function buildCatalog(config: Config, server: { name: string; version: string }): Catalog {
  return {
    server,
    tools: allTools(config).map((t) => ({
      name: t.name,
      title: t.title,
      domain: t.domain,
      profile: t.profile,
      description: t.description,
      annotations: { ...t.annotations },
      // The same JSON Schema clients get from tools/list.
      inputSchema: toolJsonSchema(t.inputSchema, 'input'),
      outputSchema: toolJsonSchema(t.outputSchema, 'output'),
      example: exampleArgs(t),
    })),
    prompts: PROMPTS.map((p) => ({
      name: p.name,
      title: p.title,
      description: p.description,
      arguments: jsonSchema(p.argsSchema),
    })),
    resources: RESOURCE_ENTRIES,
  };
}

export interface LiveFacts {
  isolation: string;
  memory: string;
  pids: string;
  seccomp: string;
  network: string;
}

export function buildOverview(
  config: Config,
  server: { name: string; version: string },
  facts: LiveFacts,
): string {
  const byDomain = new Map<string, ToolDef[]>();
  for (const t of allTools(config)) byDomain.set(t.domain, [...(byDomain.get(t.domain) ?? []), t]);
  const lines = [
    `# ${server.name} ${server.version}`,
    '',
    'A sandbox for AI agents: persistent Python sessions, each in its own jail with a /workspace folder; files and',
    'plots come back as artifacts (sandbox:// resources); errors carry a code and a hint.',
    '',
    '## Isolation and limits in force',
    `- isolation: ${facts.isolation}`,
    `- memory per session: ${config.memoryMb} MiB (${facts.memory})`,
    `- processes per session: ${config.pids} (${facts.pids})`,
    `- wall-clock limit per call: ${config.timeoutS} s (interrupt, then kill after ${config.graceMs} ms)`,
    `- file size: ${config.fileSizeMb} MiB; open files: ${config.openFiles} (rlimits)`,
    `- seccomp: ${facts.seccomp}`,
    `- network: ${facts.network}`,
    `- idle sessions: processes stopped after ${config.idleTtlS} s (files kept; the next call restarts them), ` +
      (config.sessionRetentionS > 0
        ? `closed and deleted after ${config.sessionRetentionS} s unused`
        : 'never closed for want of use'),
    '',
    '## Tools by domain',
  ];
  for (const [domain, tools] of byDomain) {
    lines.push('', `### ${domain}`);
    for (const t of tools) lines.push(`- \`${t.name}\` (${t.profile}): ${firstSentence(t.description)}`);
  }
  lines.push('', '## Prompts');
  for (const p of PROMPTS) lines.push(`- \`${p.name}\`: ${p.description}`);
  lines.push('', '## Resources');
  for (const r of RESOURCE_ENTRIES)
    lines.push(`- \`${'uri' in r ? r.uri : r.uriTemplate}\`: ${r.description}`);
  return lines.join('\n') + '\n';
}

function firstSentence(text: string): string {
  const m = /^(.*?\.)(\s|$)/.exec(text);
  return m ? m[1]! : text;
}

/** docs/tools.md: every tool with its schemas and an example call. */
export function toolsMarkdown(catalog: Catalog): string {
  const out = [
    '# Tools',
    '',
    'Generated from the tool registry by `npm run docs`; a test fails when this file is out of date.',
    '',
    '| tool | domain | profile | read-only | destructive |',
    '| --- | --- | --- | --- | --- |',
    ...catalog.tools.map(
      (t) =>
        `| [\`${t.name}\`](#${t.name}) | ${t.domain} | ${t.profile} | ${String(t.annotations['readOnlyHint'])} | ${String(t.annotations['destructiveHint'])} |`,
    ),
  ];
  for (const t of catalog.tools) {
    out.push(
      '',
      `## ${t.name}`,
      '',
      t.description,
      '',
      `Annotations: ${JSON.stringify(t.annotations)}`,
      '',
      'Example:',
      '',
      '```json',
      JSON.stringify({ name: t.name, arguments: t.example }, null, 2),
      '```',
      '',
      '<details><summary>Input schema</summary>',
      '',
      '```json',
      JSON.stringify(t.inputSchema, null, 2),
      '```',
      '',
      '</details>',
      '',
      '<details><summary>Output schema</summary>',
      '',
      '```json',
      JSON.stringify(t.outputSchema, null, 2),
      '```',
      '',
      '</details>',
    );
  }
  out.push('', '# Prompts', '');
  for (const p of catalog.prompts) out.push(`- \`${p.name}\`: ${p.description}`);
  return out.join('\n') + '\n';
}
