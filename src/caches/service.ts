// clear_cache: asks a session's Python kernel to drop the caches that are safe to drop and reports what they held.
// It must never restart the kernel or touch user variables (see src/agent/caches.py for exactly what is cleared).
import { z } from 'zod';
import { SandboxError } from '../errors.js';
import type { SessionService } from '../sessions/service.js';

const Cleared = z.object({ name: z.string(), items: z.number(), bytes: z.number().nullable() });

const Report = z.object({
  important_only: z.boolean(),
  cleared: z.array(Cleared),
  bytes_freed: z.number(),
  rss_before_bytes: z.number().nullable(),
  rss_after_bytes: z.number().nullable(),
  duration_ms: z.number(),
});

/** What clear_cache reports: the kernel's report for the session it ran in. */
export const CacheReportSchema = z.object({ session_id: z.string(), ...Report.shape });

export type CacheReport = z.infer<typeof CacheReportSchema>;

/** A slow disk walk of __pycache__ folders is fine; a kernel silent this long is stuck, and the box is restarted. */
const BACKSTOP_MS = 120_000;

export class CacheService {
  constructor(private readonly sessions: SessionService) {}

  async clear(owner: string, sessionId: string | undefined, importantOnly: boolean): Promise<CacheReport> {
    return this.sessions.useBox(owner, sessionId, async (box, session) => {
      const final = await box.request(
        { op: 'clear_cache', important_only: importantOnly },
        undefined,
        BACKSTOP_MS,
      ).done;
      const result = final['result'];
      if (final.status !== 'ok' || typeof result !== 'object' || result === null || 'error' in result) {
        const why =
          (result as { error?: unknown } | null)?.error ??
          (final['error'] as { message?: unknown } | undefined)?.message;
        throw new SandboxError(
          'internal',
          `the kernel could not clear its caches: ${String(why ?? 'no answer')}`,
        );
      }
      return { session_id: session.sessionId, ...Report.parse(result) };
    });
  }
}
