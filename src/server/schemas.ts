// zod schemas shared by several tools' inputs and outputs.
import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';

export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
  hint: z.string().optional(),
});

export const SessionIdArg = z
  .string()
  .max(200)
  .optional()
  .describe('The session to use; omit it to use your default session (created on first use).');

export const SessionInfoSchema = z.object({
  session_id: z.string(),
  name: z.string().nullable(),
  is_default: z.boolean(),
  created_at: z.string(),
  last_used_at: z.string(),
  timeout_s: z.number(),
  memory_mb: z.number(),
  pids: z.number(),
  network: z.string(),
  execution_count: z.number(),
  running: z.boolean(),
  workspace: z.string(),
});

export const MimeBundleSchema = z.record(z.string(), z.unknown());
