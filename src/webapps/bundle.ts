// Pure: the text of an export's Docker bundle (Dockerfile, docker-compose.yml, .dockerignore, README.md,
// requirements.txt) from the app's kind and what detection found. Never reads or writes files.
import { EXPORT_PORT, HEALTH_PATH, dockerCommand, showCommand } from './commands.js';
import type { AppType } from './types.js';

export interface BundleSpec {
  name: string;
  type: AppType;
  /** As gunicorn/uvicorn spell it: `app`, `server`, `create_app()`. */
  appObject: string;
  /** The session's Python, e.g. 3.11.2: the image uses the same minor version. */
  pythonVersion: string;
  requirements: string[];
  warnings: string[];
}

export function imageName(name: string): string {
  return name.toLowerCase().replace(/^[^a-z0-9]+/, '') || 'app';
}

function pythonMinor(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : '3.11';
}

function healthcheck(type: AppType): string {
  const url = `http://127.0.0.1:${EXPORT_PORT[type]}${HEALTH_PATH[type]}`;
  // slim images have no curl; a 4xx still means the server answers (an app need not serve '/').
  const script = [
    'import sys, urllib.request, urllib.error',
    'try:',
    `    urllib.request.urlopen('${url}', timeout=4)`,
    'except urllib.error.HTTPError as e:',
    '    sys.exit(1 if e.code >= 500 else 0)',
    'except Exception:',
    '    sys.exit(1)',
  ].join('\n');
  return JSON.stringify(['python3', '-c', script]);
}

export function dockerfile(spec: BundleSpec): string {
  const port = EXPORT_PORT[spec.type];
  const cmd = JSON.stringify(dockerCommand(spec.type, spec.appObject)).replace(/","/g, '", "');
  return `# ${spec.name}: ${spec.type} app exported from a sandbox session.
# Build arguments: BASE_IMAGE, any image with python3 and pip (default the official slim image of the session's
# Python); PIP_INDEX_URL, the package index requirements.txt is installed from (default pip's own).
ARG BASE_IMAGE=python:${pythonMinor(spec.pythonVersion)}-slim
FROM \${BASE_IMAGE}
ARG PIP_INDEX_URL

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. A base whose python3 is the distribution's (Debian's)
# marks it externally managed; in this image it belongs to the app alone.
COPY requirements.txt .
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r requirements.txt

RUN useradd --create-home --uid 10001 appuser
COPY --chown=appuser:appuser . .
USER appuser

EXPOSE ${port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \\
  CMD ${healthcheck(spec.type)}

CMD ${cmd}
`;
}

export function compose(spec: BundleSpec): string {
  const port = EXPORT_PORT[spec.type];
  return `services:
  app:
    build: .
    image: ${imageName(spec.name)}:latest
    ports:
      - "${port}:${port}"
    restart: unless-stopped
`;
}

export const DOCKERIGNORE = `__pycache__/
*.py[cod]
.git/
.venv/
venv/
.env
*.log
.pytest_cache/
.mypy_cache/
.DS_Store
`;

export function requirementsTxt(spec: BundleSpec): string {
  const head =
    spec.type === 'static'
      ? '# A static site needs no Python packages beyond the standard library.\n'
      : "# Detected from the app's imports; versions pinned to those installed in the sandbox session.\n";
  return head + spec.requirements.map((r) => r + '\n').join('');
}

function localCommand(type: AppType, appObject: string): string {
  const port = EXPORT_PORT[type];
  switch (type) {
    case 'flask':
      return `gunicorn --bind 127.0.0.1:${port} app:${appObject}`;
    case 'fastapi':
      return appObject.endsWith('()')
        ? `uvicorn --factory app:${appObject.slice(0, -2)} --port ${port}`
        : `uvicorn app:${appObject} --port ${port}`;
    case 'streamlit':
      return `streamlit run app.py --server.port ${port}`;
    case 'static':
      return `python -m http.server ${port} --directory static`;
  }
}

export function readme(spec: BundleSpec): string {
  const port = EXPORT_PORT[spec.type];
  const image = imageName(spec.name);
  const url = `http://localhost:${port}/`;
  const reqs = spec.requirements.length
    ? spec.requirements.map((r) => `- \`${r}\``).join('\n')
    : '- none (standard library only)';
  const warn = spec.warnings.length
    ? `\n## Check before shipping\n\n${spec.warnings.map((w) => `- ${w}`).join('\n')}\n`
    : '';
  return `# ${spec.name}

A ${spec.type} app exported from a sandbox session, ready to run in Docker.
It listens on port ${port}; open ${url} once it runs.

## Run with Docker Compose

\`\`\`sh
docker compose up --build
\`\`\`

## Run with Docker

\`\`\`sh
docker build -t ${image} .
docker run --rm -p ${port}:${port} ${image}
\`\`\`

Another base image (any with python3 and pip) or package index:
\`docker build --build-arg BASE_IMAGE=<image> --build-arg PIP_INDEX_URL=<index URL> -t ${image} .\`

The image runs \`${showCommand(dockerCommand(spec.type, spec.appObject))}\` as a non-root user and has a HEALTHCHECK.

## Run locally

\`\`\`sh
python3 -m venv .venv
. .venv/bin/activate
pip install -r requirements.txt
${localCommand(spec.type, spec.appObject)}
\`\`\`

## Requirements

Detected from the app's imports and pinned to the versions the session had installed:

${reqs}
${warn}`;
}
