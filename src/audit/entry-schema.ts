// zod schema of an audit log entry as the audit service lists it: the one source of its type and of get_audit_log's.
import { z } from 'zod';

export const AuditEntrySchema = z.object({
  id: z.number(),
  session_id: z.string(),
  at: z.string(),
  kind: z.string(),
  sha256: z.string(),
  status: z.string(),
  duration_ms: z.number().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
