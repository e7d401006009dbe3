// The typed results of the artifacts service (artifacts, reports); plain data only, never MCP types or I/O. The
// results' types come from their zod schemas (result-schemas.ts), which the tools publish as their output schemas.
import type { z } from 'zod';
import type { Category } from '../workspace/categories.js';
import type {
  ArtifactChangesSchema,
  ArtifactListSchema,
  ArtifactReportSchema,
  ArtifactSchema,
  CategorizedArtifactsSchema,
  CategoryTotalsSchema,
  CleanupResultSchema,
  NotebookExportSchema,
  ReadResultSchema,
  RemovedFileSchema,
  WriteResultSchema,
} from './result-schemas.js';

export type Artifact = z.infer<typeof ArtifactSchema>;
export type ArtifactChanges = z.infer<typeof ArtifactChangesSchema>;
export type ArtifactList = z.infer<typeof ArtifactListSchema>;
export type CategoryTotals = z.infer<typeof CategoryTotalsSchema>;
export type ArtifactReport = z.infer<typeof ArtifactReportSchema>;
export type CategorizedArtifacts = z.infer<typeof CategorizedArtifactsSchema>;
export type RemovedFile = z.infer<typeof RemovedFileSchema>;
export type CleanupResult = z.infer<typeof CleanupResultSchema>;
export type WriteResult = z.infer<typeof WriteResultSchema>;
export type NotebookExport = z.infer<typeof NotebookExportSchema>;

/** Which session and host folder a call is about; both always travel together so they cannot be swapped. */
export interface SessionScope {
  sessionId: string;
  /** Absolute host path of the session workspace (bound at /workspace in the box). */
  workspace: string;
}

export interface ListFilter {
  category?: Category;
  /** A glob over workspace paths; without a '/' it matches the file name at any depth. */
  glob?: string;
  /** ISO 8601 time; only files modified strictly after it. */
  newerThan?: string;
}

export interface CleanupOptions {
  /** Runs once before anything is removed, and only when something will be (a backup is taken there). */
  beforeCleanup?: () => Promise<void>;
}

export type WriteContent = { text: string } | { base64: string };

type ReadMeta = Omit<z.infer<typeof ReadResultSchema>, 'encoding' | 'text' | 'base64'>;

/** read_file's result: its schema's fields, with text present exactly when the encoding is utf8, base64 otherwise. */
export type ReadResult = ReadMeta &
  ({ encoding: 'utf8'; text: string } | { encoding: 'base64'; base64: string });

export interface NotebookOutputItem {
  type: 'display_data' | 'execute_result' | 'error';
  data?: Record<string, unknown>;
  error?: { ename: string; evalue: string; traceback: string[] };
}

export interface NotebookHistoryEntry {
  execution_count: number | null;
  code: string;
  status: string;
  stdout: string;
  stderr: string;
  items: NotebookOutputItem[];
}
