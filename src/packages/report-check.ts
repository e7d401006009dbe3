// Validates the JSON reports the install and listing runs print. Code in the session can shape them (a .pth file or
// distribution metadata in /workspace/.venv runs or is read in those runs), so no field reaches a result unchecked.
import { z } from 'zod';
import { SandboxError } from '../errors.js';
import { InstalledPackageSchema, type InstalledPackage } from './result-schemas.js';

const PATH_MAX = 4096;
/** How many left-out distributions a warning names. */
const NAMED = 5;
const NAME_SHOWN = 80;

/** What the install script reports; `installed` is checked on its own, so a bad one costs only itself. */
export const InstallReportSchema = z.object({
  exit_code: z.number().int(),
  stage: z.enum(['venv', 'ensurepip', 'install']),
  venv_created: z.boolean(),
  installed: z.unknown(),
});

/** What the listing script reports; each package is checked on its own, so a bad one costs only itself. */
export const ListReportSchema = z.object({
  python: z.string().max(PATH_MAX),
  version: z.string().max(64),
  venv: z.string().max(PATH_MAX).nullable(),
  packages: z.array(z.unknown()),
});

export type InstallReport = z.infer<typeof InstallReportSchema>;
export type ListReport = z.infer<typeof ListReportSchema>;

const VENV_HINT =
  'a file in /workspace/.venv (a .pth file, a sitecustomize module or distribution metadata) changes what its Python ' +
  'reports; remove it, or delete /workspace/.venv to start from a new virtualenv';

/** The first problem zod found, as "path: message". */
function firstIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'not valid';
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/** A package entry named for a warning: its name when it has a string one, else its place in the list. */
function entryName(entry: unknown, index: number): string {
  const name = entry && typeof entry === 'object' ? (entry as { name?: unknown }).name : undefined;
  if (typeof name !== 'string') return `entry ${index}`;
  return JSON.stringify(name.length > NAME_SHOWN ? `${name.slice(0, NAME_SHOWN)}…` : name);
}

/** The install report, or null when it is not valid (the install then counts as one that printed none). */
export function checkedInstallReport(raw: Record<string, unknown> | null): InstallReport | null {
  const parsed = InstallReportSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** The installed distribution an install reports, or null with a warning when its metadata is not valid. */
export function checkedInstalled(raw: unknown): { installed: InstalledPackage | null; warnings: string[] } {
  if (raw === null || raw === undefined) return { installed: null, warnings: [] };
  const parsed = InstalledPackageSchema.safeParse(raw);
  if (parsed.success) return { installed: parsed.data, warnings: [] };
  return {
    installed: null,
    warnings: [
      `the installed distribution's metadata is not valid (${entryName(raw, 0)}, ${firstIssue(parsed.error)}), ` +
        `so installed is left empty; list_installed_packages shows what the virtualenv holds. ${VENV_HINT}`,
    ],
  };
}

/** The listing report, or a structured error when its shape is not what the listing script prints. */
export function checkedListReport(raw: Record<string, unknown>, output: string): ListReport {
  const parsed = ListReportSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new SandboxError(
    'runtime_error',
    `the package listing's report is not valid (${firstIssue(parsed.error)})`,
    { problem: firstIssue(parsed.error), output },
    VENV_HINT,
  );
}

/** The valid package entries of a listing; the others are left out, named in one warning. */
export function checkedPackages(raw: unknown[]): { packages: InstalledPackage[]; warnings: string[] } {
  const packages: InstalledPackage[] = [];
  const bad: string[] = [];
  raw.forEach((entry, i) => {
    const parsed = InstalledPackageSchema.safeParse(entry);
    if (parsed.success) packages.push(parsed.data);
    else bad.push(`${entryName(entry, i)} (${firstIssue(parsed.error)})`);
  });
  if (bad.length === 0) return { packages, warnings: [] };
  const more = bad.length > NAMED ? `, and ${bad.length - NAMED} more` : '';
  return {
    packages,
    warnings: [
      `${bad.length} distribution(s) with metadata that is not valid are left out: ` +
        `${bad.slice(0, NAMED).join(', ')}${more}. ${VENV_HINT}`,
    ],
  };
}
