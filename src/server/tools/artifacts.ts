// Artifact tools: list, report, categorize, clean up, and export the session as a notebook.
import { z } from 'zod';
import { DESTRUCTIVE, ACTS, READ_ONLY, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { fieldText, okResult } from '../results.js';
import {
  ArtifactListSchema,
  ArtifactReportSchema,
  CategorizedArtifactsSchema,
  CategorySchema,
  NotebookExportSchema,
} from '../../artifacts/result-schemas.js';
import { CleanupResultSchema, CursorArg, NextCursor, SessionIdArg } from '../schemas.js';
import { decodeCursor, encodeCursor } from '../page-cursor.js';
import {
  firstEntries,
  LeftOutFields,
  leftOutText,
  LimitArg,
  LIST_PAGE,
  OffsetArg,
  pageLists,
  PageFields,
} from '../bounded-lists.js';
import { CATEGORIES } from '../../workspace/categories.js';
import { sessionScope } from '../services.js';
import { artifactLink } from '../artifact-links.js';
import type {
  CleanupResult,
  NotebookHistoryEntry,
  NotebookOutputItem,
  SessionScope,
} from '../../artifacts/types.js';

// The removed and failed files listed up to LIST_PAGE together; the counts stay whole.
const CleanupOutput = CleanupResultSchema.extend({ failed_count: z.number(), ...LeftOutFields });
const CategorizedOutput = CategorizedArtifactsSchema.extend({
  counts: z.record(z.string(), z.number()).describe('Files per category, every one counted.'),
  ...PageFields,
});

/** Runs a cleanup in the session's call queue, so its backup and its deletions never overlap a running call. */
async function cleanup(
  ctx: ToolCtx,
  sessionId: string | undefined,
  run: (scope: SessionScope, before: () => Promise<void>) => Promise<CleanupResult>,
) {
  const { services } = ctx;
  let backup: string | null = null;
  const result = await services.sessions.queued(ctx.client.clientKey, sessionId, (s) => {
    const scope = { sessionId: s.sessionId, workspace: s.workspace };
    return run(scope, async () => {
      backup = (await services.beforeCleanup?.(s.owner, scope)) ?? null;
    });
  });
  // A cleanup cannot be asked again for a page: what it left out is found where the files now are.
  const { lists, counts, omitted, more } = firstEntries(
    { removed: result.removed, failed: result.failed },
    LIST_PAGE,
    (cut) => {
      const ways: string[] = [];
      if (cut.lists.removed.length < cut.counts.removed)
        ways.push(
          backup
            ? `get_backup_details of backup "${backup}" (taken just before) lists every removed file under ` +
                'diff_vs_workspace.deleted, page by page (pass next_offset back as offset)'
            : `${cut.counts.removed - cut.lists.removed.length} removed file(s) are not listed: no backup was taken`,
        );
      if (cut.lists.failed.length < cut.counts.failed)
        ways.push(
          'list_artifacts lists the files that could not be removed: they are still in the workspace',
        );
      return ways.join('; ');
    },
  );
  const out = { ...result, ...lists, backup, failed_count: counts.failed, omitted, more };
  const text =
    `Removed ${result.removed_count} file(s), ${result.removed_bytes} bytes` +
    (backup ? `; backup ${backup} holds them (rollback_to_backup restores)` : '') +
    (result.backup_skipped ? `; no backup: ${result.backup_skipped}` : '') +
    (result.failed.length ? `; ${result.failed.length} could not be removed` : '') +
    '.' +
    leftOutText(out);
  return okResult(out, text);
}

export function artifactTools(): ToolDef[] {
  return [
    defineTool({
      name: 'list_artifacts',
      title: 'List artifacts',
      domain: 'artifacts',
      profile: 'core',
      description:
        "List the files in a session's workspace (plots, images, data, code…) with category, MIME type, size, sha256 " +
        'and a sandbox:// URI readable as a resource. Filter by category, glob (e.g. "*.csv", "plots/**") or newer_than (ISO time). ' +
        `Pages of ${LIST_PAGE} files in path order: pass next_cursor back as cursor, with the same filters, for the next.`,
      inputSchema: z.object({
        session_id: SessionIdArg,
        category: CategorySchema.optional(),
        glob: z.string().max(500).optional(),
        newer_than: z.string().datetime({ offset: true }).optional(),
        cursor: CursorArg,
        limit: LimitArg.describe(`Files per page (${LIST_PAGE}).`),
      }),
      outputSchema: ArtifactListSchema.extend({ next_cursor: NextCursor }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const after = args.cursor === undefined ? undefined : decodeCursor(args.cursor, ['after']).after;
        const { next_after, ...r } = await ctx.services.artifacts.list(
          scope,
          {
            ...(args.category ? { category: args.category } : {}),
            ...(args.glob ? { glob: args.glob } : {}),
            ...(args.newer_than ? { newerThan: args.newer_than } : {}),
          },
          { limit: args.limit ?? LIST_PAGE, ...(after !== undefined ? { after } : {}) },
        );
        const next_cursor = next_after === null ? null : encodeCursor({ after: next_after });
        // The list itself is in structuredContent; the text only counts it and says how to go on.
        const text = r.total_count
          ? `${r.total_count} file(s), ${r.total_bytes} bytes; ${r.artifacts.length} on this page` +
            (next_cursor ? ', more with cursor = next_cursor.' : '.')
          : 'No files.';
        return okResult({ ...r, next_cursor }, text, r.artifacts.slice(0, 20).map(artifactLink));
      },
    }),
    defineTool({
      name: 'get_artifact_report',
      title: 'Artifact report',
      domain: 'artifacts',
      profile: 'full',
      description:
        "Summarize a session's workspace: totals, count and size per category, the 10 most recent and the 10 largest files.",
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: ArtifactReportSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const r = await ctx.services.artifacts.report(scope);
        const cats = Object.entries(r.by_category)
          .filter(([, v]) => v.count > 0)
          .map(([k, v]) => `${k}: ${v.count} (${v.bytes} bytes)`);
        return okResult(r, `${r.total_count} file(s), ${r.total_bytes} bytes. ${cats.join('; ')}`);
      },
    }),
    defineTool({
      name: 'categorize_artifacts',
      title: 'Categorize artifacts',
      domain: 'artifacts',
      profile: 'full',
      description:
        "Group a session's workspace files by category (decided by content sniffing, the extension as fallback). " +
        `The paths, category after category, come in pages of ${LIST_PAGE}: pass next_offset back as offset for the next.`,
      inputSchema: z.object({ session_id: SessionIdArg, offset: OffsetArg, limit: LimitArg }),
      outputSchema: CategorizedOutput,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const r = await ctx.services.artifacts.categorize(scope);
        const lists: Record<string, string[]> = {};
        for (const c of CATEGORIES) if (r.categories[c]) lists[c] = r.categories[c];
        const p = pageLists('categorize_artifacts', lists, args);
        const categories: Record<string, string[]> = {};
        for (const [k, v] of Object.entries(p.lists)) if (v.length) categories[k] = v;
        const out = {
          ...r,
          categories,
          counts: p.counts,
          omitted: p.omitted,
          next_offset: p.next_offset,
          more: p.more,
        };
        const text = Object.entries(categories)
          .map(([k, v]) => `${k} (${p.counts[k]}): ${v.join(', ')}`)
          .join('\n');
        return okResult(out, (text ? fieldText(text, 'categories') : 'No files.') + leftOutText(out));
      },
    }),
    defineTool({
      name: 'cleanup_artifacts_by_type',
      title: 'Remove artifacts of one category',
      domain: 'artifacts',
      profile: 'full',
      description:
        "Delete every workspace file of one category (e.g. 'plots'). A backup is taken first when backups are enabled, " +
        'so rollback_to_backup can undo it (not on a full disk: backup_skipped says so). Reports what was removed.',
      inputSchema: z.object({ artifact_type: CategorySchema, session_id: SessionIdArg }),
      outputSchema: CleanupOutput,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        return cleanup(ctx, args.session_id, (scope, before) =>
          ctx.services.artifacts.cleanupByType(scope, args.artifact_type, { beforeCleanup: before }),
        );
      },
    }),
    defineTool({
      name: 'cleanup_artifacts',
      title: 'Remove all artifacts',
      domain: 'artifacts',
      profile: 'full',
      description:
        "Delete every file in a session's workspace (the virtualenv is kept). A backup is taken first when backups are " +
        'enabled, so rollback_to_backup can undo it (not on a full disk: backup_skipped says so). Reports what was removed.',
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: CleanupOutput,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        return cleanup(ctx, args.session_id, (scope, before) =>
          ctx.services.artifacts.cleanupAll(scope, { beforeCleanup: before }),
        );
      },
    }),
    defineTool({
      name: 'export_notebook',
      title: 'Export as notebook',
      domain: 'artifacts',
      profile: 'full',
      description:
        "Write the session's history as a Jupyter notebook (nbformat 4: each execute's code and outputs, images included) " +
        'to notebooks/<name>.ipynb in the workspace, and return it as an artifact.',
      inputSchema: z.object({
        session_id: SessionIdArg,
        name: z.string().max(64).optional().describe('File name without extension (letters, digits, -, _).'),
      }),
      outputSchema: NotebookExportSchema,
      annotations: ACTS,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const history = ctx.services.sessions.executions(scope.sessionId).map(toHistoryEntry);
        const r = await ctx.services.artifacts.exportNotebook(scope, history, args.name);
        return okResult(r, `Wrote ${r.path} with ${r.cell_count} cell(s).`, [artifactLink(r.artifact)]);
      },
    }),
  ];
}

interface StoredOutputs {
  stdout?: string;
  stderr?: string;
  items?: Array<{ type: string; data?: Record<string, unknown>; error?: NotebookOutputItem['error'] }>;
}

/** A history row as the notebook export takes it (the status page's download uses it too). */
export function toHistoryEntry(row: {
  execution_count: number;
  code: string;
  status: string;
  outputs: string;
}): NotebookHistoryEntry {
  let out: StoredOutputs = {};
  try {
    out = JSON.parse(row.outputs) as StoredOutputs;
  } catch {
    // A row written by an older version: export the code without outputs.
  }
  const items: NotebookOutputItem[] = [];
  for (const it of out.items ?? []) {
    if (it.type === 'display_data' || it.type === 'execute_result')
      items.push({ type: it.type, data: it.data ?? {} });
    else if (it.type === 'error' && it.error) items.push({ type: 'error', error: it.error });
  }
  return {
    execution_count: row.execution_count,
    code: row.code,
    status: row.status,
    stdout: out.stdout ?? '',
    stderr: out.stderr ?? '',
    items,
  };
}
