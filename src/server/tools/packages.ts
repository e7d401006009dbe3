// Package tools: install_package and list_installed_packages. MCP shaping only; the packages service does the work.
import { z } from 'zod';
import { ACTS, READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import { okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import { InstallResultSchema, ListResultSchema } from '../../packages/result-schemas.js';

export function packageTools(): ToolDef[] {
  return [
    defineTool({
      name: 'install_package',
      title: 'Install a Python package',
      domain: 'packages',
      profile: 'full',
      description:
        "Install a package into the session's virtualenv (/workspace/.venv, created on first use; the system's numpy, " +
        'matplotlib and friends stay importable) from the package index this server is configured for. Give a name and ' +
        'optionally a version ("2.1.0") or specifier (">=1,<2"); URLs, paths and pip options are refused unless the ' +
        "server allows them. Only the index is reachable during the install. The first install restarts the session's " +
        'Python (variables are reset, files kept) so it runs on the venv; later installs keep the state. ' +
        'Sends installer output as progress when you pass a progress token.',
      inputSchema: z.object({
        package: z
          .string()
          .min(1)
          .max(2000)
          .describe(
            'A package name, optionally with extras and a specifier: "requests", "pandas[excel]>=2".',
          ),
        version: z.string().max(200).optional().describe('A version ("1.2.3") or specifier (">=1,<2").'),
        session_id: SessionIdArg,
        timeout: z
          .number()
          .positive()
          .max(86400)
          .optional()
          .describe(
            'Wall-clock limit for the install, seconds (default 600 or the session timeout, whichever is longer).',
          ),
      }),
      outputSchema: InstallResultSchema,
      annotations: { ...ACTS, idempotentHint: true, openWorldHint: true },
      handler: async (args, ctx) => {
        const r = await ctx.services.packages.install(
          ctx.client.clientKey,
          args.session_id,
          { package: args.package, version: args.version, timeout_s: args.timeout },
          {
            signal: ctx.signal,
            onLine: ctx.progressText,
          },
        );
        const what = r.installed
          ? `${r.installed.name} ${r.installed.version} (${r.installed.source})`
          : r.requirement;
        const lines = [`Installed ${what} with ${r.installer} into ${r.venv}.`];
        if (r.python_restarted)
          lines.push(
            "The session's Python restarted on the virtualenv: variables and imports were reset; files are kept.",
          );
        for (const w of r.warnings) lines.push(`warning: ${w}`);
        return okResult(r, lines.join('\n'));
      },
    }),
    defineTool({
      name: 'list_installed_packages',
      title: 'List installed packages',
      domain: 'packages',
      profile: 'full',
      description:
        "List the Python distributions a session can import, with versions, marking which come from the session's " +
        'virtualenv (installed with install_package) and which from the system.',
      inputSchema: z.object({ session_id: SessionIdArg }),
      outputSchema: ListResultSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = await ctx.services.packages.list(ctx.client.clientKey, args.session_id);
        const mine = r.packages.filter((p) => p.source === 'venv').map((p) => `${p.name} ${p.version}`);
        const text =
          `${r.packages.length} packages for Python ${r.python_version} (${r.counts.venv} in the virtualenv, ${r.counts.system} from the system).` +
          (mine.length ? `\nvirtualenv: ${mine.join(', ')}` : '') +
          r.warnings.map((w) => `\nwarning: ${w}`).join('');
        return okResult(r, text);
      },
    }),
  ];
}
