// The typed results of the artifacts service (categories, artifacts, reports); plain data only, never MCP types or I/O.

export const CATEGORIES = [
  'images',
  'plots',
  'videos',
  'audio',
  'data',
  'code',
  'documents',
  'models',
  'web',
  'archives',
  'other',
] as const;

export type Category = (typeof CATEGORIES)[number];

export function isCategory(v: unknown): v is Category {
  return typeof v === 'string' && (CATEGORIES as readonly string[]).includes(v);
}

/** Which session and host folder a call is about; both always travel together so they cannot be swapped. */
export interface SessionScope {
  sessionId: string;
  /** Absolute host path of the session workspace (bound at /workspace in the box). */
  workspace: string;
}

export interface Categorization {
  category: Category;
  mime: string;
}

export interface Artifact {
  /** Workspace-relative, posix separators. */
  path: string;
  category: Category;
  mime: string;
  size: number;
  /** Hex sha256 of the content; null only when the server could not read the file. */
  sha256: string | null;
  /** ISO 8601 modification time. */
  mtime: string;
  /** `sandbox://sessions/<id>/files/<path>`, each segment URI-encoded. */
  uri: string;
}

export interface ArtifactChanges {
  created: Artifact[];
  changed: Artifact[];
  /** Workspace-relative paths that existed before the call and are gone after it. */
  deleted: string[];
}

export interface ListFilter {
  category?: Category;
  /** A glob over workspace paths; without a '/' it matches the file name at any depth. */
  glob?: string;
  /** ISO 8601 time; only files modified strictly after it. */
  newerThan?: string;
}

export interface ArtifactList {
  artifacts: Artifact[];
  total_count: number;
  total_bytes: number;
}

export interface CategoryTotals {
  count: number;
  bytes: number;
}

export interface ArtifactReport {
  total_count: number;
  total_bytes: number;
  /** Every category is present, with zeros when empty, so the shape never changes. */
  by_category: Record<Category, CategoryTotals>;
  most_recent: Artifact[];
  largest: Artifact[];
  generated_at: string;
}

export interface CategorizedArtifacts {
  /** Only categories that hold at least one file; paths sorted. */
  categories: Partial<Record<Category, string[]>>;
  total_count: number;
}

export interface RemovedFile {
  path: string;
  category: Category;
  size: number;
}

export interface CleanupResult {
  scope: Category | 'all';
  removed: RemovedFile[];
  removed_count: number;
  removed_bytes: number;
  /** Files that matched but could not be removed, with the reason. */
  failed: Array<{ path: string; error: string }>;
  /** Why no backup was taken before the removal (a full disk); absent when one was, or none was asked for. */
  backup_skipped?: string;
}

export interface CleanupOptions {
  /** Runs once before anything is removed, and only when something will be (a backup is taken there). */
  beforeCleanup?: () => Promise<void>;
}

export type WriteContent = { text: string } | { base64: string };

export interface WriteResult {
  artifact: Artifact;
  /** False when an existing file was replaced. */
  created: boolean;
}

interface ReadMeta {
  path: string;
  uri: string;
  mime: string;
  category: Category;
  /** Size of the whole file, even when only part of it was read. */
  size: number;
  /** Where the bytes returned start, and how many there are. */
  offset: number;
  length: number;
  /** Where the rest starts; null when the range reaches the end of the file. */
  next_offset: number | null;
  /** True when the result is not the whole file. */
  truncated: boolean;
}

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

export interface NotebookExport {
  path: string;
  uri: string;
  cell_count: number;
  artifact: Artifact;
}
