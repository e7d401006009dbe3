// The public surface of the artifacts feature for the session service and the MCP tools; must never export file-system internals beyond it.
export { ArtifactService, type ArtifactServiceOptions } from './service.js';
export {
  ArtifactTracker,
  artifactUri,
  DEFAULT_EXCLUDES,
  diff,
  HashCache,
  isExcludedPath,
  snapshot,
  type DiffOptions,
  type ExcludeRules,
  type FileStat,
  type Snapshot,
  type TrackerOptions,
} from './tracker.js';
export { categorize, categorizeDeep, HEAD_BYTES, isPlotPath } from './categorize.js';
export { defaultFileIO, type FileIO, type HashResult, type HeadResult } from './file-io.js';
export { buildNotebook, type Notebook } from './notebook.js';
export * from './types.js';
