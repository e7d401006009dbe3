// Backup tools: versioned, content-addressed backups of a session's workspace, with crash-safe rollback.
import { z } from 'zod';
import { DESTRUCTIVE, ACTS, READ_ONLY, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import {
  firstEntries,
  LeftOutFields,
  LimitArg,
  LIST_PAGE,
  leftOutText,
  OffsetArg,
  pageLists,
  PageFields,
} from '../bounded-lists.js';
import type { SessionHandle } from '../../sessions/service.js';
import {
  BackupDetailsSchema,
  BackupResultSchema,
  BackupSummarySchema,
  CleanupResultSchema,
  DiffResultSchema,
  RestoreFileResultSchema,
  RollbackResultSchema,
  VerifyResultSchema,
} from '../../backups/result-schemas.js';

const BackupName = z
  .string()
  .max(1000)
  .describe('Backup name (letters, digits, -, _; at most 64 characters).');
// rollback's result and whether Python was restarted (never: the workspace keeps its inode), in the published order
const { duration_ms: rollbackDuration, ...rollbackFields } = RollbackResultSchema.shape;
const RollbackOutput = z.object({
  ...rollbackFields,
  python_restarted: z.boolean(),
  duration_ms: rollbackDuration,
  not_backed_up_count: z.number(),
  ...LeftOutFields,
});
const BackupOutput = BackupResultSchema.extend({ skipped_count: z.number(), ...LeftOutFields });

/**
 * Entries a backup skipped, LIST_PAGE of them at most; get_backup_details of that backup lists them all, page by
 * page (a backup or a rollback cannot be asked again for a page).
 */
function boundSkipped<T>(entries: readonly T[], backup: string) {
  const { lists, counts, omitted, more } = firstEntries(
    { skipped: entries },
    LIST_PAGE,
    () =>
      `get_backup_details of backup "${backup}" lists all ${entries.length} under skipped, page by page ` +
      '(pass next_offset back as offset)',
  );
  return { kept: lists.skipped, count: counts.skipped, omitted, more };
}

const Paging = { offset: OffsetArg, limit: LimitArg };
const ChangeCounts = z.object({ added: z.number(), changed: z.number(), deleted: z.number() });
// Each list cut to a page (the lists one after the other, as if one), with whole counts and the way to the rest.
const DiffOutput = DiffResultSchema.extend({ counts: ChangeCounts, ...PageFields });
const DetailsOutput = BackupDetailsSchema.extend({
  counts: ChangeCounts.extend({ folders: z.number(), skipped: z.number() }).describe(
    "Whole lengths of folders, skipped and diff_vs_workspace's lists (each category's files counts its items).",
  ),
  ...PageFields,
});
const VerifyOutput = VerifyResultSchema.extend({
  counts: z.object({ missing: z.number(), corrupt: z.number() }),
  ...PageFields,
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
      outputSchema: BackupOutput,
      annotations: ACTS,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.backup(s.sessionId, s.workspace, {
            name: args.backup_name,
            reason: 'manual',
            onProgress: progress(ctx, 'backup'),
          }),
        );
        const skipped = boundSkipped(r.skipped, r.name);
        const out = {
          ...r,
          skipped: skipped.kept,
          skipped_count: skipped.count,
          omitted: skipped.omitted,
          more: skipped.more,
        };
        return okResult(
          out,
          `Backup ${r.name}: ${r.file_count} file(s), ${r.total_size} bytes (${r.new_bytes} new).` +
            (r.retention?.deleted.length ? ` Retention removed ${r.retention.deleted.join(', ')}.` : '') +
            leftOutText(out),
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
      outputSchema: z.object({ backups: z.array(BackupSummarySchema) }),
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
        '(added, changed, deleted since the backup). The file, folder, skipped and diff lists are one list in pages ' +
        `of ${LIST_PAGE} entries: pass next_offset back as offset for the next.`,
      inputSchema: z.object({ backup_name: BackupName, session_id: SessionIdArg, ...Paging }),
      outputSchema: DetailsOutput,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const d = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.details(s.sessionId, args.backup_name, s.workspace),
        );
        const cats = Object.entries(d.categories);
        const { added, changed, deleted } = d.diff_vs_workspace;
        const p = pageLists(
          'get_backup_details',
          {
            ...Object.fromEntries(cats.map(([name, c]) => [`items:${name}`, c.items])),
            folders: d.folders,
            skipped: d.skipped,
            added,
            changed,
            deleted,
          },
          args,
        );
        const page = p.lists as unknown as Record<string, (typeof d.categories)[string]['items']>;
        const categories: typeof d.categories = Object.fromEntries(
          cats.map(([name, c]) => [name, { ...c, items: page[`items:${name}`] ?? [] }]),
        );
        const out = {
          ...d,
          categories,
          folders: p.lists.folders,
          skipped: p.lists.skipped,
          diff_vs_workspace: { added: p.lists.added, changed: p.lists.changed, deleted: p.lists.deleted },
          counts: {
            folders: p.counts.folders,
            skipped: p.counts.skipped,
            added: p.counts.added,
            changed: p.counts.changed,
            deleted: p.counts.deleted,
          },
          omitted: p.omitted,
          next_offset: p.next_offset,
          more: p.more,
        };
        return okResult(
          out,
          `${d.name}: ${d.file_count} files, ${d.total_size} bytes. Since then: ${added.length} added, ` +
            `${changed.length} changed, ${deleted.length} deleted.` +
            leftOutText(out),
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
      outputSchema: RollbackOutput,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, async (s) => {
          const out = await ctx.services.backups.rollback(s.sessionId, args.backup_name, s.workspace, {
            onProgress: progress(ctx, 'rollback'),
          });
          ctx.services.artifacts.tracker({ sessionId: s.sessionId, workspace: s.workspace }).invalidate();
          return out;
        });
        const lost = boundSkipped(r.not_backed_up, r.pre_rollback_backup);
        const out = {
          ...r,
          not_backed_up: lost.kept,
          python_restarted: false,
          not_backed_up_count: lost.count,
          omitted: lost.omitted,
          more: lost.more,
        };
        return okResult(
          out,
          `Rolled back to ${r.backup}: ${r.restored_files} restored, ${r.removed_files} removed. ` +
            `Undo with rollback_to_backup("${r.pre_rollback_backup}"). Python kept running.` +
            leftOutText(out),
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
      outputSchema: CleanupResultSchema,
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
      description:
        "Re-hash a backup's stored content and report missing or corrupt files (the two lists as one, in pages of " +
        `${LIST_PAGE}: pass next_offset back as offset for the next).`,
      inputSchema: z.object({ backup_name: BackupName, session_id: SessionIdArg, ...Paging }),
      outputSchema: VerifyOutput,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.verify(s.sessionId, args.backup_name),
        );
        const { lists, ...page } = pageLists(
          'verify_backup',
          { missing: r.missing, corrupt: r.corrupt },
          args,
        );
        const out = { ...r, ...lists, ...page };
        return okResult(
          out,
          (r.ok
            ? `${r.name} is intact (${r.checked_files} files).`
            : `${r.name} is damaged: ${r.missing.length} missing, ${r.corrupt.length} corrupt.`) +
            leftOutText(out),
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
      outputSchema: RestoreFileResultSchema,
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
      description:
        'List the files added, changed and deleted between backup a and backup b of the session (the three lists ' +
        `as one, in pages of ${LIST_PAGE}: pass next_offset back as offset for the next).`,
      inputSchema: z.object({ a: BackupName, b: BackupName, session_id: SessionIdArg, ...Paging }),
      outputSchema: DiffOutput,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = await inSession(ctx, args.session_id, (s) =>
          ctx.services.backups.diffBackups(s.sessionId, args.a, args.b),
        );
        const { added, changed, deleted } = r;
        const { lists, ...page } = pageLists('diff_backups', { added, changed, deleted }, args);
        const out = { ...r, ...lists, ...page };
        return okResult(
          out,
          `${r.from} → ${r.to}: ${r.added.length} added, ${r.changed.length} changed, ${r.deleted.length} deleted.` +
            leftOutText(out),
        );
      },
    }),
  ];
}
