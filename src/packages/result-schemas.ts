// zod schemas of the packages service's results: the one source of their types and of the package tools' output.
import { z } from 'zod';

export const InstalledPackageSchema = z.object({
  name: z.string(),
  version: z.string(),
  source: z.enum(['venv', 'system']),
});

/** The index settings an install used, with credentials hidden. */
export const InstallIndexSchema = z.object({
  index_url: z.string().nullable(),
  extra_index_urls: z.array(z.string()),
  find_links: z.array(z.string()),
  no_index: z.boolean(),
});

export const InstallResultSchema = z.object({
  session_id: z.string(),
  requirement: z.string(),
  installed: InstalledPackageSchema.nullable(),
  installer: z.enum(['pip', 'uv']),
  venv: z.string(),
  venv_created: z.boolean(),
  python_restarted: z.boolean(),
  index: InstallIndexSchema,
  allowed_hosts: z.array(z.string()),
  warnings: z.array(z.string()),
  output_tail: z.string(),
  duration_ms: z.number(),
});

export const ListResultSchema = z.object({
  session_id: z.string(),
  python: z.string(),
  python_version: z.string(),
  venv: z.string().nullable(),
  packages: z.array(InstalledPackageSchema),
  counts: z.object({ venv: z.number(), system: z.number() }),
  /** Distributions left out of packages because their metadata is not valid. */
  warnings: z.array(z.string()),
});

export type InstalledPackage = z.infer<typeof InstalledPackageSchema>;
export type InstallIndex = z.infer<typeof InstallIndexSchema>;
export type InstallResult = z.infer<typeof InstallResultSchema>;
export type ListResult = z.infer<typeof ListResultSchema>;
