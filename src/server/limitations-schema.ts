// zod schema of get_sandbox_limitations' report: the one source of its type (describeLimitations builds it) and
// of the tool's output schema, so the two cannot drift apart.
import { z } from 'zod';
import { IsolationSchema } from '../sessions/execute-result-schema.js';

export const LimitSchema = z.object({
  name: z.string(),
  value: z.number(),
  unit: z.string(),
  enforced_by: z.string(),
});

export const SandboxLimitationsSchema = z.object({
  session_id: z.string(),
  isolation: z.object({
    mode: IsolationSchema,
    namespaces: z.array(z.string()),
    seccomp: z.boolean(),
    runs_as: z.string(),
  }),
  limits: z.array(LimitSchema),
  network: z.object({
    policy: z.string(),
    description: z.string(),
    enforced: z.boolean(),
    allowed_domains: z.array(z.string()),
    proxy: z.string().nullable(),
    recent_denials: z.array(
      z.object({
        at: z.string(),
        method: z.string(),
        host: z.string(),
        port: z.number(),
        reason: z.string(),
        rule: z.string().nullable(),
      }),
    ),
  }),
  filesystem: z.object({
    workspace: z.string(),
    writable: z.array(z.string()),
    read_only: z.array(z.string()),
    not_visible: z.array(z.string()),
  }),
  shell: z.object({
    interpreter: z.string(),
    policy_source: z.string(),
    denied: z.array(z.object({ id: z.string(), category: z.string(), description: z.string() })),
  }),
  python: z.object({
    version: z.string().nullable(),
    executable: z.string().nullable(),
    venv: z.boolean().nullable(),
  }),
  can: z.array(z.string()),
  cannot: z.array(z.string()),
});

export type Limit = z.infer<typeof LimitSchema>;
export type SandboxLimitations = z.infer<typeof SandboxLimitationsSchema>;
