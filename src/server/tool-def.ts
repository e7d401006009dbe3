// The shape every tool is declared with: one registry of these backs tools/list, the docs and the catalog,
// so what clients see cannot drift from the code.
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { Services } from './services.js';
import type { ClientContext } from './client-context.js';

export interface ToolCtx {
  client: ClientContext;
  services: Services;
  signal: AbortSignal;
  /** Sends notifications/progress when the client asked for it (a progress token); otherwise a no-op. */
  progress: (progress: number, total?: number, message?: string) => void;
  /** Numbered text progress when the client asked for progress, else undefined: pass it on as an output callback. */
  progressText: ((text: string) => void) | undefined;
}

export type ToolProfile = 'core' | 'full';

/** What a handler returns: a CallToolResult whose structuredContent is typed (an error result has none). */
export type ToolResult<S> = {
  content: CallToolResult['content'];
  structuredContent?: S;
  isError?: boolean;
};

export interface ToolDef<
  I extends z.ZodObject = z.ZodObject,
  O extends z.ZodObject = z.ZodObject,
  S = z.input<O>,
> {
  name: string;
  title: string;
  domain: string;
  /** 'core' tools are in both profiles; 'full' tools only in the full profile. */
  profile: ToolProfile;
  description: string;
  inputSchema: I;
  outputSchema: O;
  annotations: ToolAnnotations;
  /** Example arguments for the docs; generated from the input schema when absent. */
  example?: Record<string, unknown>;
  /** Its structuredContent has the output schema's type: see defineTool. */
  handler: (args: z.infer<I>, ctx: ToolCtx) => Promise<ToolResult<S>>;
}

/** The three kinds of tool most tools are: reads, actions that add or change, and actions that delete. */
export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
export const ACTS: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
};
export const DESTRUCTIVE: ToolAnnotations = { ...ACTS, destructiveHint: true };

/**
 * The keys of S, at any depth, that T does not have: the fields a handler returns that its output schema does not
 * declare (a key of a record is not one: the record's type has every key, numbers included).
 */
export type ExtraKeys<S, T> = S extends readonly (infer E)[]
  ? T extends readonly (infer F)[]
    ? ExtraKeys<E, F>
    : never
  : S extends object
    ? T extends object
      ? | Exclude<keyof S, keyof T | (string extends keyof T ? number : never)>
        | { [K in keyof S & keyof T]-?: ExtraKeys<S[K], T[K]> }[keyof S & keyof T]
      : never
    : never;

/**
 * Keeps each tool's handler typed against its own schemas while the registry holds them all. The structuredContent
 * the handler returns must fit the output schema's type (z.input of it) and hold no field the schema does not
 * declare: a field added, dropped or retyped on one side only does not compile.
 */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject, S extends z.input<O>>(
  def: ToolDef<I, O, S> &
    ([ExtraKeys<S, z.input<O>>] extends [never]
      ? unknown
      : { undeclaredOutputFields: ExtraKeys<S, z.input<O>> }),
): ToolDef {
  return def as unknown as ToolDef;
}
