// zod schemas of the session service's results: the one source of their types and of the session tools' output.
import { z } from 'zod';

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

export const SessionClosedSchema = z.object({ session_id: z.string(), closed: z.boolean() });
