// Backup tools: versioned, content-addressed backups of a session's workspace, with crash-safe rollback.
import { z } from 'zod';
import { DESTRUCTIVE, ACTS, READ_ONLY, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import type { SessionHandle } from '../../sessions/service.js';

const BackupName = z
  .string()
  .max(1000)
  .describe('Backup name (letters, digits, -, _; at most 64 characters).');
const CategoryTotals = z.record(z.string(), z.object({ files: z.number(), bytes: z.number() }));
const ChangeSet = z.object({
  added: z.array(z.string()),
  changed: z.array(z.string()),
  deleted: z.array(z.string()),
});
const CleanupOut = z.object({
  deleted: z.array(z.string()),
  kept: z.array(z.string()),
  blobs_deleted: z.number(),
  bytes_freed: z.number(),
});
const Summary = z.object({
  name: z.string(),
  created_at: z.string(),
  reason: z.string(),
  file_count: z.number(),
  total_size: z.number(),
  unique_bytes: z.number(),
});

/** Runs a backup operation in the session's call queue, so no execute changes files underneath it. */
function inSession<T>(
  ctx: ToolCtx,
  sessionId: string | undefined,
  fn: (s: SessionHandle) => Promise<T>,
): Promise<T> {
  return ctx.services.sessions.queued(ctx.client.clientKey, sessionId, fn);
}

function progress(ctx: ToolCtx, what: string) {
  let last = 0;
  return (done: number, total: number) => {
    // At most ~20 notifications per operation, whatever the file count.
    if (done !== total && done - last < Math.max(1, Math.floor(total / 20))) return;
    last = done;
    ctx.progress(done, total, `${what}: ${done}/${total} files`);
  };
}

export function backupTools(maxBackups: number): ToolDef[] {
  return [
    defineTool({
      name: 'backup_current_artifacts',
      title: 'Back up the workspace',
      domain: 'backups',
      profile: 'core',
      description:
        "Take a backup of the session's workspace (.venv and caches excluded). Content-addressed: unchanged files cost " +
        `nothing twice. Default name backup_<UTC time>; a given name never overwrites one. Only the newest ${maxBackups} ` +
        'backups are kept per session. Sends progress with totals.',
      inputSchema: z.object({ backup_name: BackupName.optional(), session_id: SessionIdArg }),
      outputSchema: z.object({
        name: z.string(),
        created_at: z.string(),
        reason: z.string(),
        file_count: z.number(),
        total_size: z.number(),
        new_bytes: z.number(),
        unchanged_files_reused: z.number(),
        totals: CategoryTotals,
        skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
        duration_ms: z.number(),
        retention: CleanupOut.nullable(),
      }),
      annotations: ACTS,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.backup(s.sessionId, s.workspace, {
            name: args.backup_name,
            reason: 'manual',
            onProgress: progress(ctx, 'backup'),
          }),
        );
        return okResult(
          r,
          `Backup ${r.name}: ${r.file_count} file(s), ${r.total_size} bytes (${r.new_bytes} new).` +
            (r.retention?.deleted.length ? ` Retention removed ${r.retention.deleted.join(', ')}.` : ''),
        );
      },
    }),
    defineTool({
      name: 'list_artifact_backups',
      title: 'List backups',
      domain: 'backups',
      profile: 'core',
      description:
        "List the session's backups, newest first: name, time, file count, total size, bytes only that backup holds, and " +
        'why it was made (manual, pre_rollback, pre_cleanup, auto).',
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: z.object({ backups: z.array(Summary) }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const backups = await inSession(ctx, args.session_id, (s) => ctx.services.backups.list(s.sessionId));
        const lines = backups.map(
          (b) => `${b.name} (${b.reason}, ${b.created_at}): ${b.file_count} files, ${b.total_size} bytes`,
        );
        return okResult({ backups }, backups.length ? lines.join('\n') : 'No backups.');
      },
    }),
    defineTool({
      name: 'get_backup_details',
      title: 'Backup details',
      domain: 'backups',
      profile: 'core',
      description:
        'Show a backup: its files by category with sizes, totals, and what differs from the current workspace ' +
        '(added, changed, deleted since the backup).',
      inputSchema: z.object({ backup_name: BackupName, session_id: SessionIdArg }),
      outputSchema: Summary.extend({
        totals: CategoryTotals,
        categories: z.record(
          z.string(),
          z.object({
            files: z.number(),
            bytes: z.number(),
            items: z.array(z.record(z.string(), z.unknown())),
          }),
        ),
        folders: z.array(z.string()),
        skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
        diff_vs_workspace: ChangeSet,
      }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const d = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.details(s.sessionId, args.backup_name, s.workspace),
        );
        const diff = d.diff_vs_workspace;
        return okResult(
          d,
          `${d.name}: ${d.file_count} files, ${d.total_size} bytes. Since then: ${diff.added.length} added, ` +
            `${diff.changed.length} changed, ${diff.deleted.length} deleted.`,
        );
      },
    }),
    defineTool({
      name: 'rollback_to_backup',
      title: 'Roll back to a backup',
      domain: 'backups',
      profile: 'core',
      description:
        "Make the workspace exactly the backup's content (files it lacks are removed; .venv is left alone). A pre_rollback " +
        'backup of the current state is taken first, so the rollback can itself be undone. Crash-safe: after a crash the ' +
        'workspace is entirely the old or entirely the backup state. A damaged backup is refused before anything changes. ' +
        'Python keeps running; already imported modules are not reloaded.',
      inputSchema: z.object({ backup_name: BackupName, session_id: SessionIdArg }),
      outputSchema: z.object({
        backup: z.string(),
        restored_files: z.number(),
        removed_files: z.number(),
        unchanged_files: z.number(),
        pre_rollback_backup: z.string(),
        not_backed_up: z.array(z.object({ path: z.string(), reason: z.string() })),
        python_restarted_required: z.boolean(),
        python_restarted: z.boolean(),
        duration_ms: z.number(),
      }),
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, async (s) => {
          const out = await ctx.services.backups.rollback(s.sessionId, args.backup_name, s.workspace, {
            onProgress: progress(ctx, 'rollback'),
          });
          ctx.services.artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).invalidate();
          return out;
        });
        return okResult(
          { ...r, python_restarted: false },
          `Rolled back to ${r.backup}: ${r.restored_files} restored, ${r.removed_files} removed. ` +
            `Undo with rollback_to_backup("${r.pre_rollback_backup}"). Python kept running.`,
        );
      },
    }),
    defineTool({
      name: 'cleanup_old_backups',
      title: 'Remove old backups',
      domain: 'backups',
      profile: 'core',
      description:
        'Keep only the newest max_backups backups of the session (never one a rollback is restoring from), delete ' +
        'stored content no backup needs any more, and report the bytes freed.',
      inputSchema: z.object({
        max_backups: z
          .number()
          .int()
          .min(0)
          .max(10_000)
          .optional()
          .describe("How many to keep (0 deletes them all); default: the server's --max-backups setting."),
        session_id: SessionIdArg,
      }),
      outputSchema: CleanupOut,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.cleanupOld(s.sessionId, args.max_backups ?? maxBackups),
        );
        return okResult(
          r,
          `Deleted ${r.deleted.length} backup(s), freed ${r.bytes_freed} bytes; kept ${r.kept.length}.`,
        );
      },
    }),
    defineTool({
      name: 'verify_backup',
      title: 'Verify a backup',
      domain: 'backups',
      profile: 'core',
      description: "Re-hash a backup's stored content and report missing or corrupt files.",
      inputSchema: z.object({ backup_name: BackupName, session_id: SessionIdArg }),
      outputSchema: z.object({
        name: z.string(),
        ok: z.boolean(),
        checked_files: z.number(),
        checked_blobs: z.number(),
        missing: z.array(z.string()),
        corrupt: z.array(z.string()),
      }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.verify(s.sessionId, args.backup_name),
        );
        return okResult(
          r,
          r.ok
            ? `${r.name} is intact (${r.checked_files} files).`
            : `${r.name} is damaged: ${r.missing.length} missing, ${r.corrupt.length} corrupt.`,
        );
      },
    }),
    defineTool({
      name: 'restore_file',
      title: 'Restore one file',
      domain: 'backups',
      profile: 'core',
      description:
        'Put one file back from a backup into the workspace (written atomically; the rest is untouched).',
      inputSchema: z.object({
        backup_name: BackupName,
        path: z.string().min(1).max(1024),
        session_id: SessionIdArg,
      }),
      outputSchema: z.object({
        path: z.string(),
        kind: z.string(),
        size: z.number(),
        sha256: z.string().nullable(),
      }),
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, async (s) => {
          const out = await ctx.services.backups.restoreFile(
            s.sessionId,
            args.backup_name,
            args.path,
            s.workspace,
          );
          ctx.services.artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).invalidate();
          return out;
        });
        return okResult(r, `Restored ${r.path} (${r.size} bytes) from ${args.backup_name}.`);
      },
    }),
    defineTool({
      name: 'diff_backups',
      title: 'Compare two backups',
      domain: 'backups',
      profile: 'full',
      description: 'List the files added, changed and deleted between backup a and backup b of the session.',
      inputSchema: z.object({ a: BackupName, b: BackupName, session_id: SessionIdArg }),
      outputSchema: ChangeSet.extend({ from: z.string(), to: z.string() }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.diffBackups(s.sessionId, args.a, args.b),
        );
        return okResult(
          r,
          `${r.from} → ${r.to}: ${r.added.length} added, ${r.changed.length} changed, ${r.deleted.length} deleted.`,
        );
      },
    }),
  ];
}
