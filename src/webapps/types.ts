// The web-app services' typed results, shared by the services and the MCP tools; no logic and no MCP types here.
// Each result's type is its zod schema's (result-schemas.ts), which the web-app tools publish as their output schemas.
import type { z } from 'zod';
import {
  APP_STATUSES,
  APP_TYPES,
  type AppLogsSchema,
  type BuildResultSchema,
  type ExportDetailsSchema,
  type ExportFileSchema,
  type ExportInfoSchema,
  type ExportRemovedSchema,
  type RequirementSchema,
  type SmokeResultSchema,
  type StartedAppSchema,
  type WebAppInfoSchema,
} from './result-schemas.js';

export { APP_STATUSES, APP_TYPES };
export type AppType = (typeof APP_TYPES)[number];
export type AppTypeArg = AppType | 'auto';
export type AppStatus = (typeof APP_STATUSES)[number];

export type WebAppInfo = z.infer<typeof WebAppInfoSchema>;
export type StartedApp = z.infer<typeof StartedAppSchema>;
export type AppLogs = z.infer<typeof AppLogsSchema>;
export type Requirement = z.infer<typeof RequirementSchema>;
export type SmokeResult = z.infer<typeof SmokeResultSchema>;
export type ExportFile = z.infer<typeof ExportFileSchema>;
export type ExportInfo = z.infer<typeof ExportInfoSchema>;
export type ExportDetails = z.infer<typeof ExportDetailsSchema>;
export type ExportRemoved = z.infer<typeof ExportRemovedSchema>;
export type BuildResult = z.infer<typeof BuildResultSchema>;

export interface RequirementsResult {
  lines: string[];
  entries: Requirement[];
  stdlib: string[];
  local: string[];
  warnings: string[];
}
