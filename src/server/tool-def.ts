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

export interface ToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
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
  handler: (args: z.infer<I>, ctx: ToolCtx) => Promise<CallToolResult>;
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

/** Keeps each tool's handler typed against its own schemas while the registry holds them all. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<I, O>): ToolDef {
  return def as unknown as ToolDef;
}
