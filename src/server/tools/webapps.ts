// Web-app tools: run apps inside a session's sandbox and reach them from the host (start, list, stop, logs), and
// export them as Docker bundles (export, list, details, cleanup, build). MCP shapes only: it never does the work itself.
import { z } from 'zod';
import { fieldText, okResult } from '../results.js';
import { SessionIdArg } from '../schemas.js';
import { ACTS, DESTRUCTIVE, READ_ONLY, defineTool, type ToolDef } from '../tool-def.js';
import {
  APP_TYPES,
  AppLogsSchema,
  BuildResultSchema,
  ExportDetailsSchema,
  ExportInfoSchema,
  ExportRemovedSchema,
  StartedAppSchema,
  WebAppInfoSchema,
} from '../../webapps/result-schemas.js';

const AppTypeArg = z.enum([...APP_TYPES, 'auto']);

const ExportNameArg = z.string().max(200).describe('Name of the export (letters, digits, - and _).');
const AppIdArg = z.string().max(100).describe('The app id start_web_app returned.');

export function webAppTools(): ToolDef[] {
  return [
    defineTool({
      name: 'start_web_app',
      title: 'Start web app',
      domain: 'webapps',
      profile: 'full',
      description:
        "Run a Flask, FastAPI, Streamlit or static web app inside the session's sandbox and get a URL on this machine " +
        '(http://127.0.0.2:<port>/sandbox-mcp-key/<key>/; open it as given: only the key opens the app). The code is saved as apps/<app_id>/app.py in the workspace and sees ' +
        "the session's files and packages; the sandbox's network stays closed. Flask and FastAPI apps are served by " +
        'the sandbox (an `app` object is found; app.run/uvicorn.run arguments are ignored); Streamlit runs headless. ' +
        'Returns once the app answers HTTP (up to ready_timeout_s, default 30), with its first log lines. A crash or ' +
        'no answer is a runtime_error with the traceback and log tail. Several apps may run per session; they stop ' +
        'when the session closes or its sandbox restarts.',
      inputSchema: z.object({
        code: z
          .string()
          .max(1_000_000)
          .optional()
          .describe('The app source (Python), or for static an HTML page.'),
        app_type: AppTypeArg.optional().describe(
          'flask, fastapi, streamlit, static, or auto (from the imports).',
        ),
        session_id: SessionIdArg,
        port: z
          .number()
          .int()
          .min(1024)
          .max(65535)
          .optional()
          .describe('Host port for the URL; omit for a free one.'),
        directory: z
          .string()
          .max(1000)
          .optional()
          .describe('static only: serve this workspace folder instead of code.'),
        ready_timeout_s: z
          .number()
          .positive()
          .max(600)
          .optional()
          .describe('How long to wait for the first HTTP answer, seconds (default 30).'),
      }),
      outputSchema: StartedAppSchema,
      annotations: ACTS,
      handler: async (args, ctx) => {
        const r = await ctx.services.webapps.start(ctx.client.clientKey, args);
        return okResult(
          r,
          `${r.app_type} app ${r.app_id} is running at ${r.url} (answered HTTP ${r.http_status} after ${r.ready_ms} ms).`,
        );
      },
    }),
    defineTool({
      name: 'list_web_apps',
      title: 'List web apps',
      domain: 'webapps',
      profile: 'full',
      description:
        'List your web apps: running ones with their URL, and recently ended ones (status exited or stopped, with the ' +
        'reason) whose logs can still be read.',
      inputSchema: z.object({
        session_id: z
          .string()
          .max(200)
          .optional()
          .describe("Only this session's apps; omit for all of yours."),
      }),
      outputSchema: z.object({ apps: z.array(WebAppInfoSchema) }),
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const apps = ctx.services.webapps.list(ctx.client.clientKey, args.session_id);
        const text = apps.length
          ? apps.map((a) => `${a.app_id} ${a.app_type} ${a.status}${a.url ? ` ${a.url}` : ''}`).join('\n')
          : 'No web apps.';
        return okResult({ apps }, text);
      },
    }),
    defineTool({
      name: 'stop_web_app',
      title: 'Stop web app',
      domain: 'webapps',
      profile: 'full',
      description:
        'Stop a running web app: its process ends and its host port is freed (the URL stops answering). Its logs stay ' +
        'readable with get_web_app_logs. Stopping an app that already ended just returns its state.',
      inputSchema: z.object({ app_id: AppIdArg }),
      outputSchema: WebAppInfoSchema,
      annotations: { ...DESTRUCTIVE, idempotentHint: true },
      handler: async (args, ctx) => {
        const r = await ctx.services.webapps.stop(ctx.client.clientKey, args.app_id);
        return okResult(r, `App ${r.app_id} is ${r.status}.`);
      },
    }),
    defineTool({
      name: 'get_web_app_logs',
      title: 'Web app logs',
      domain: 'webapps',
      profile: 'full',
      description:
        'The last lines a web app printed (stdout and stderr together: requests, errors, tracebacks). The server keeps ' +
        'a bounded buffer per app (the last 2000 lines), also after the app ended.',
      inputSchema: z.object({
        app_id: AppIdArg,
        tail: z
          .number()
          .int()
          .min(1)
          .max(2000)
          .optional()
          .describe('How many of the last lines (default 100).'),
      }),
      outputSchema: AppLogsSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = ctx.services.webapps.logs(ctx.client.clientKey, args.app_id, args.tail ?? 100);
        return okResult(r, r.lines.length ? fieldText(r.lines.join('\n'), 'lines') : '(no output yet)');
      },
    }),
    defineTool({
      name: 'export_web_app',
      title: 'Export web app',
      domain: 'webapps',
      profile: 'full',
      description:
        "Write a web app (code, or a started app by app_id) as a Docker bundle in the server's exports folder: app.py, " +
        'requirements.txt (detected from its imports, pinned to the versions in the session), Dockerfile (slim Python, ' +
        'non-root, gunicorn/uvicorn/streamlit, HEALTHCHECK), docker-compose.yml, .dockerignore and README.md. Local ' +
        'modules it imports are copied along. Before returning, the bundle is smoke-tested: started in a fresh sandbox ' +
        'from its files alone and checked to answer HTTP (smoke_test says how and whether it passed). Names are never ' +
        'reused; no image is built (see build_docker_image).',
      inputSchema: z.object({
        code: z.string().max(1_000_000).optional().describe('The app source; or pass app_id instead.'),
        app_id: z
          .string()
          .max(100)
          .optional()
          .describe('Export the code of an app started with start_web_app.'),
        app_type: AppTypeArg.optional().describe('flask, fastapi, streamlit, static or auto (default).'),
        export_name: z
          .string()
          .max(200)
          .optional()
          .describe("Folder name: letters, digits, '-', '_', at most 64; default <type>-app-<time>."),
        session_id: SessionIdArg,
      }),
      outputSchema: ExportDetailsSchema,
      annotations: ACTS,
      handler: async (args, ctx) => {
        const r = await ctx.services.webappExports.export(
          ctx.client.clientKey,
          args,
          (step, total, message) => ctx.progress(step, total, message),
        );
        const smoke = r.smoke_test.passed ? 'smoke test passed' : 'smoke test FAILED';
        return okResult(r, `Exported ${r.app_type} app to ${r.path} (${smoke}: ${r.smoke_test.note}).`);
      },
    }),
    defineTool({
      name: 'list_web_app_exports',
      title: 'List web app exports',
      domain: 'webapps',
      profile: 'full',
      description:
        'List your exported web-app bundles with their app type, requirements and smoke-test result.',
      inputSchema: z.object({}),
      outputSchema: z.object({ exports: z.array(ExportInfoSchema) }),
      annotations: READ_ONLY,
      handler: async (_args, ctx) => {
        const exports = ctx.services.webappExports.list(ctx.client.clientKey);
        const text = exports.length
          ? exports
              .map((e) => `${e.export_name} (${e.app_type}, smoke ${e.smoke_test.passed ? 'ok' : 'failed'})`)
              .join('\n')
          : 'No exports.';
        return okResult({ exports }, text);
      },
    }),
    defineTool({
      name: 'get_export_details',
      title: 'Export details',
      domain: 'webapps',
      profile: 'full',
      description:
        "An export's files with sizes, its requirements (and where each name came from), app type and smoke-test " +
        'result. include_contents adds the text of each file (capped per file and at 256 KB in all).',
      inputSchema: z.object({
        export_name: ExportNameArg,
        include_contents: z.boolean().optional().describe('Add file contents (text files only).'),
        max_bytes_per_file: z.number().int().min(1).max(262144).optional().describe('Default 65536.'),
      }),
      outputSchema: ExportDetailsSchema,
      annotations: READ_ONLY,
      handler: async (args, ctx) => {
        const r = ctx.services.webappExports.details(ctx.client.clientKey, args.export_name, args);
        return okResult(r, `${r.export_name}: ${r.files.map((f) => `${f.path} (${f.size} B)`).join(', ')}`);
      },
    }),
    defineTool({
      name: 'cleanup_web_app_export',
      title: 'Remove web app export',
      domain: 'webapps',
      profile: 'full',
      description:
        'Delete an exported bundle and its record. Cannot be undone; built images are not touched.',
      inputSchema: z.object({ export_name: ExportNameArg }),
      outputSchema: ExportRemovedSchema,
      annotations: DESTRUCTIVE,
      handler: async (args, ctx) => {
        const r = ctx.services.webappExports.cleanup(ctx.client.clientKey, args.export_name);
        return okResult(r, `Removed export ${r.export_name} (${r.freed_bytes} bytes).`);
      },
    }),
    defineTool({
      name: 'build_docker_image',
      title: 'Build Docker image',
      domain: 'webapps',
      profile: 'full',
      description:
        "Build an export's image when a Docker engine answers on this machine; returns the image id, tag and the " +
        "end of the build log, and sends the build's lines as progress when you pass a progress token. A failed " +
        "build is a runtime_error with the build's own error. Without an engine: a docker_unavailable error whose " +
        'hint gives the commands to build and run the bundle elsewhere. Can take minutes (the build downloads the ' +
        'base image and packages).',
      inputSchema: z.object({
        export_name: ExportNameArg,
        tag: z.string().max(200).optional().describe('Image tag; default <export_name>:latest.'),
        base_image: z
          .string()
          .max(255)
          .optional()
          .describe(
            "The Dockerfile's BASE_IMAGE (any image with python3 and pip); default python:<version>-slim.",
          ),
        pip_index_url: z
          .string()
          .max(2000)
          .optional()
          .describe(
            "The Dockerfile's PIP_INDEX_URL (http or https, no credentials); default pip's own index.",
          ),
      }),
      outputSchema: BuildResultSchema,
      annotations: { ...ACTS, openWorldHint: true },
      handler: async (args, ctx) => {
        const r = await ctx.services.webappExports.build(ctx.client.clientKey, args.export_name, {
          tag: args.tag,
          baseImage: args.base_image,
          pipIndexUrl: args.pip_index_url,
          onLine: ctx.progressText,
          signal: ctx.signal,
        });
        return okResult(r, `Built ${r.tag} (${r.image_id}) in ${Math.round(r.duration_ms / 1000)} s.`);
      },
    }),
  ];
}
