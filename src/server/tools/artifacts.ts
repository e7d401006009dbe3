// Artifact tools: list, report, categorize, clean up, and export the session as a notebook.
import { z } from 'zod';
import { DESTRUCTIVE, ACTS, READ_ONLY, defineTool, type ToolCtx, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import {
  ArtifactSchema,
  CategorySchema,
  CleanupResultSchema,
  CursorArg,
  NextCursor,
  SessionIdArg,
} from '../schemas.js';
import { decodeCursor, encodeCursor } from '../page-cursor.js';
import { sessionScope } from '../services.js';
import { artifactLink } from '../artifact-links.js';
import type {
  CleanupResult,
  NotebookHistoryEntry,
  NotebookOutputItem,
  SessionScope,
} from '../../artifacts/types.js';

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
  const out = { ...result, backup };
  const text =
    `Removed ${result.removed_count} file(s), ${result.removed_bytes} bytes` +
    (backup ? `; backup ${backup} holds them (rollback_to_backup restores)` : '') +
    (result.backup_skipped ? `; no backup: ${result.backup_skipped}` : '') +
    (result.failed.length ? `; ${result.failed.length} could not be removed` : '') +
    '.';
  return okResult(out, text);
}

/** Files a list_artifacts page holds unless the caller says, and the most it may ask for. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

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
        `Pages of ${DEFAULT_PAGE} files in path order: pass next_cursor back as cursor, with the same filters, for the next.`,
      inputSchema: z.object({
        session_id: SessionIdArg,
        category: CategorySchema.optional(),
        glob: z.string().max(500).optional(),
        newer_than: z.string().datetime({ offset: true }).optional(),
        cursor: CursorArg,
        limit: z.number().int().min(1).max(MAX_PAGE).optional().describe(`Files per page (${DEFAULT_PAGE}).`),
      }),
      outputSchema: z.object({
        artifacts: z.array(ArtifactSchema),
        total_count: z.number(),
        total_bytes: z.number(),
        next_cursor: NextCursor,
      }),
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
          { limit: args.limit ?? DEFAULT_PAGE, ...(after !== undefined ? { after } : {}) },
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
      outputSchema: z.object({
        total_count: z.number(),
        total_bytes: z.number(),
        by_category: z.record(z.string(), z.object({ count: z.number(), bytes: z.number() })),
        most_recent: z.array(ArtifactSchema),
        largest: z.array(ArtifactSchema),
        generated_at: z.string(),
      }),
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
        "Group a session's workspace files by category (decided by content sniffing, the extension as fallback).",
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: z.object({
        categories: z.record(z.string(), z.array(z.string())),
        total_count: z.number(),
      }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const scope = await sessionScope(ctx.services, ctx.client.clientKey, args.session_id);
        const r = await ctx.services.artifacts.categorize(scope);
        const text = Object.entries(r.categories)
          .map(([k, v]) => `${k}: ${(v ?? []).join(', ')}`)
          .join('\n');
        return okResult(r, text || 'No files.');
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
      outputSchema: CleanupResultSchema,
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
      outputSchema: CleanupResultSchema,
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
      outputSchema: z.object({
        path: z.string(),
        uri: z.string(),
        cell_count: z.number(),
        artifact: ArtifactSchema,
      }),
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
