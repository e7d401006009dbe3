// The web-app services' typed results, shared by the services and the MCP tools; no logic and no MCP types here.

export const APP_TYPES = ['flask', 'fastapi', 'streamlit', 'static'] as const;
export type AppType = (typeof APP_TYPES)[number];
export type AppTypeArg = AppType | 'auto';

/** starting: launched, not yet answering; running: answered HTTP; exited: ended by itself; stopped: ended by us. */
export const APP_STATUSES = ['starting', 'running', 'exited', 'stopped'] as const;
export type AppStatus = (typeof APP_STATUSES)[number];

export interface WebAppInfo {
  app_id: string;
  session_id: string;
  app_type: AppType;
  status: AppStatus;
  /** http://127.0.0.2:<host_port>/sandbox-mcp-key/<key>/ while the app runs, else null: only the key opens the app. */
  url: string | null;
  host_port: number | null;
  /** The app's port on the box's own loopback. */
  box_port: number | null;
  pid: number | null;
  /** Workspace-relative path of the file (or folder, for static) the app serves. */
  source: string;
  started_at: string;
  stopped_at: string | null;
  exit_code: number | null;
  stop_reason: string | null;
}

export interface StartedApp extends WebAppInfo {
  ready_ms: number;
  http_status: number;
  first_logs: string[];
}

export interface AppLogs {
  app_id: string;
  status: AppStatus;
  lines: string[];
  /** Lines the app printed since it started, including those no longer kept. */
  total_lines: number;
  /** Older lines were dropped from the ring buffer. */
  truncated: boolean;
}

export interface Requirement {
  module: string;
  distribution: string;
  version: string | null;
  /** installed: the session's Python maps the module to this distribution; table: a well-known name; guess: the module name. */
  source: 'installed' | 'table' | 'guess' | 'server';
}

export interface RequirementsResult {
  lines: string[];
  entries: Requirement[];
  stdlib: string[];
  local: string[];
  warnings: string[];
}

export interface SmokeResult {
  passed: boolean;
  /** The command run in the fresh box, with the port it got on the box's own loopback. */
  command: string;
  /** The Dockerfile's command it stands for. */
  dockerfile_command: string;
  /** False when the Dockerfile's server is not in the sandbox's Python and a stand-in was used (see note). */
  same_as_dockerfile: boolean;
  http_status: number | null;
  duration_ms: number;
  note: string;
  log_tail: string[];
}

export interface ExportFile {
  path: string;
  size: number;
  content?: string;
  content_truncated?: boolean;
}

export interface ExportInfo {
  export_name: string;
  app_type: AppType;
  created_at: string;
  path: string;
  session_id: string;
  source_app_id: string | null;
  python_version: string;
  requirements: string[];
  smoke_test: SmokeResult;
  warnings: string[];
}

export interface ExportDetails extends ExportInfo {
  files: ExportFile[];
  requirement_entries: Requirement[];
}
