// Pure: how each kind of app is started — in a session's box, in its Docker image, and in the export's smoke test —
// and how an app's kind is told from its code. Never spawns anything; the agent fills in {python}, {port},
// {agent_dir} and {workspace}.
import { invalidArgument } from '../errors.js';
import { APP_TYPES, type AppType, type AppTypeArg } from './types.js';

export interface BoxCommand {
  argv: string[];
  /** Relative to the box's workspace. */
  cwd: string;
  env: Record<string, string>;
}

/** The kind of app some code is, from its imports (or an HTML page for static); null when it cannot tell. */
export function detectAppType(code: string): AppType | null {
  const imports = (mod: string) => new RegExp(`^[ \\t]*(?:import|from)[ \\t]+${mod}\\b`, 'm').test(code);
  if (imports('streamlit')) return 'streamlit';
  if (imports('fastapi')) return 'fastapi';
  if (imports('flask')) return 'flask';
  if (/^\s*<(!doctype|html|head|body|div|h1|p)\b/i.test(code)) return 'static';
  return null;
}

/** The kind of app a caller asked for; null for auto (or none given). Throws on a kind that does not exist. */
export function requestedAppType(arg: AppTypeArg | undefined): AppType | null {
  if (arg === undefined || arg === 'auto') return null;
  if (!APP_TYPES.includes(arg))
    throw invalidArgument(`app_type must be one of ${APP_TYPES.join(', ')} or auto`);
  return arg;
}

/** The file an app's code is written to, relative to its folder. */
export function entryFile(type: AppType): string {
  return type === 'static' ? 'index.html' : 'app.py';
}

/**
 * How a session's app runs in its box. source: the workspace-relative file (or folder, for static). The workspace is
 * on PYTHONPATH so the app imports the session's modules as its cells do.
 */
export function sessionCommand(type: AppType, source: string): BoxCommand {
  const env = { PYTHONPATH: '{workspace}' };
  switch (type) {
    case 'flask':
      return { argv: ['{python}', '-u', '{agent_dir}/app_launch.py', 'flask', source], cwd: '.', env };
    case 'fastapi':
      return { argv: ['{python}', '-u', '{agent_dir}/app_launch.py', 'asgi', source], cwd: '.', env };
    case 'streamlit':
      return {
        argv: [
          '{python}',
          '-m',
          'streamlit',
          'run',
          source,
          '--server.headless',
          'true',
          '--server.port',
          '{port}',
          '--server.address',
          '127.0.0.1',
          '--browser.gatherUsageStats',
          'false',
          '--server.fileWatcherType',
          'none',
          // Streamlit installed outside site-packages (into the workspace) believes it is a development checkout.
          '--global.developmentMode',
          'false',
        ],
        cwd: '.',
        env,
      };
    case 'static':
      return {
        argv: ['{python}', '-m', 'http.server', '{port}', '--bind', '127.0.0.1', '--directory', source],
        cwd: '.',
        env: {},
      };
  }
}

export const EXPORT_PORT: Record<AppType, number> = {
  flask: 8000,
  fastapi: 8000,
  streamlit: 8501,
  static: 8000,
};
export const HEALTH_PATH: Record<AppType, string> = {
  flask: '/',
  fastapi: '/',
  streamlit: '/_stcore/health',
  static: '/',
};

/** The server module and its arguments for an exported app; appObject as gunicorn/uvicorn spell it. */
function server(
  type: AppType,
  appObject: string,
  host: string,
  port: string,
): { module: string; args: string[] } {
  const factory = appObject.endsWith('()');
  switch (type) {
    case 'flask':
      return {
        module: 'gunicorn',
        args: ['--bind', `${host}:${port}`, '--workers', '2', '--access-logfile', '-', `app:${appObject}`],
      };
    case 'fastapi':
      return {
        module: 'uvicorn',
        args: [
          ...(factory ? ['--factory'] : []),
          `app:${factory ? appObject.slice(0, -2) : appObject}`,
          '--host',
          host,
          '--port',
          port,
        ],
      };
    case 'streamlit':
      return {
        module: 'streamlit',
        args: [
          'run',
          'app.py',
          '--server.headless=true',
          `--server.port=${port}`,
          `--server.address=${host}`,
          '--browser.gatherUsageStats=false',
        ],
      };
    case 'static':
      return { module: 'http.server', args: [port, '--bind', host, '--directory', 'static'] };
  }
}

/** The CMD of an export's Dockerfile: the server as a module of python3, so any base with python3 runs it. */
export function dockerCommand(type: AppType, appObject: string): string[] {
  const s = server(type, appObject, '0.0.0.0', String(EXPORT_PORT[type]));
  return ['python3', '-m', s.module, ...s.args];
}

export interface SmokeCommand {
  argv: string[];
  same: boolean;
  note: string;
}

/**
 * The smoke test's command: the Dockerfile's own server run as `python -m <server>` on the box's loopback, or, when
 * that server is not installed in the sandbox's Python, the nearest stand-in (said in note).
 */
export function smokeCommand(
  type: AppType,
  appObject: string,
  installed: (module: string) => boolean,
): SmokeCommand {
  const s = server(type, appObject, '127.0.0.1', '{port}');
  if (installed(s.module)) {
    return {
      argv: ['{python}', '-m', s.module, ...s.args],
      same: true,
      note: `ran the Dockerfile's server (${s.module}) from the exported files in a fresh sandbox`,
    };
  }
  if (type === 'flask') {
    return {
      argv: [
        '{python}',
        '-m',
        'flask',
        '--app',
        `app:${appObject}`,
        'run',
        '--host',
        '127.0.0.1',
        '--port',
        '{port}',
      ],
      same: false,
      note: "gunicorn is not installed in the sandbox's Python: ran Flask's own server (`flask run`) on the same app object instead",
    };
  }
  return {
    argv: ['{python}', '-m', s.module, ...s.args],
    same: true,
    note: `${s.module} is not installed in the sandbox's Python, so this run is expected to fail`,
  };
}

/** argv as a shell would show it. */
export function showCommand(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
