// zod schemas of the web-app services' results: the one source of their types (types.ts) and of the tools' output.
import { z } from 'zod';

export const APP_TYPES = ['flask', 'fastapi', 'streamlit', 'static'] as const;

/** starting: launched, not yet answering; running: answered HTTP; exited: ended by itself; stopped: ended by us. */
export const APP_STATUSES = ['starting', 'running', 'exited', 'stopped'] as const;

export const AppTypeSchema = z.enum(APP_TYPES);
export const AppStatusSchema = z.enum(APP_STATUSES);

export const WebAppInfoSchema = z.object({
  app_id: z.string(),
  session_id: z.string(),
  app_type: AppTypeSchema,
  status: AppStatusSchema,
  /** http://127.0.0.2:<host_port>/sandbox-mcp-key/<key>/ while the app runs, else null: only the key opens the app. */
  url: z.string().nullable(),
  host_port: z.number().nullable(),
  /** The app's port on the box's own loopback. */
  box_port: z.number().nullable(),
  pid: z.number().nullable(),
  /** Workspace-relative path of the file (or folder, for static) the app serves. */
  source: z.string(),
  started_at: z.string(),
  stopped_at: z.string().nullable(),
  exit_code: z.number().nullable(),
  stop_reason: z.string().nullable(),
});

export const StartedAppSchema = WebAppInfoSchema.extend({
  ready_ms: z.number(),
  http_status: z.number(),
  first_logs: z.array(z.string()),
});

export const AppLogsSchema = z.object({
  app_id: z.string(),
  status: AppStatusSchema,
  lines: z.array(z.string()),
  /** Lines the app printed since it started, including those no longer kept. */
  total_lines: z.number(),
  /** Older lines were dropped from the ring buffer. */
  truncated: z.boolean(),
});

export const SmokeResultSchema = z.object({
  passed: z.boolean(),
  /** The command run in the fresh box, with the port it got on the box's own loopback. */
  command: z.string(),
  /** The Dockerfile's command it stands for. */
  dockerfile_command: z.string(),
  /** False when the Dockerfile's server is not in the sandbox's Python and a stand-in was used (see note). */
  same_as_dockerfile: z.boolean(),
  http_status: z.number().nullable(),
  duration_ms: z.number(),
  note: z.string(),
  log_tail: z.array(z.string()),
});

export const ExportInfoSchema = z.object({
  export_name: z.string(),
  app_type: AppTypeSchema,
  created_at: z.string(),
  path: z.string(),
  session_id: z.string(),
  source_app_id: z.string().nullable(),
  python_version: z.string(),
  requirements: z.array(z.string()),
  smoke_test: SmokeResultSchema,
  warnings: z.array(z.string()),
});

export const ExportFileSchema = z.object({
  path: z.string(),
  size: z.number(),
  content: z.string().optional(),
  content_truncated: z.boolean().optional(),
});

export const RequirementSchema = z.object({
  module: z.string(),
  distribution: z.string(),
  version: z.string().nullable(),
  /** installed: the session's Python maps the module to this distribution; table: a well-known name; guess: the module name. */
  source: z.enum(['installed', 'table', 'guess', 'server']),
});

export const ExportDetailsSchema = ExportInfoSchema.extend({
  files: z.array(ExportFileSchema),
  requirement_entries: z.array(RequirementSchema),
});

export const ExportRemovedSchema = z.object({
  export_name: z.string(),
  removed: z.boolean(),
  freed_bytes: z.number(),
});

export const BuildResultSchema = z.object({
  export_name: z.string(),
  tag: z.string(),
  image_id: z.string(),
  duration_ms: z.number(),
  log_tail: z.array(z.string()),
});
