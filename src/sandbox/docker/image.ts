// The Docker box image: the shipped Dockerfile (Debian's python3 and packages, base image a build argument) or a
// named image, plus a thin layer with the agent; built through the Engine API on first use, tagged by content.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from '../../errors.js';
import type { Engine } from './engine.js';
import { buildImage, contextFiles } from './image-build.js';

export interface ImageRequest {
  /** The folder of the in-box agent's Python files. */
  agentDir: string;
  /** An image with python3 to use instead of building the shipped Dockerfile (`--docker-image`). */
  image?: string | undefined;
  /** The shipped Dockerfile's BASE_IMAGE (default debian:bookworm-slim). */
  baseImage: string;
  /** A line of build progress. */
  progress?: (line: string) => void;
}

/** From the agent's folder (src/agent or dist/src/agent), the Dockerfiles and pid 1 of the box are here. */
export function assetsDir(agentDir: string): string {
  return join(agentDir, '..', 'sandbox', 'docker', 'assets');
}

function digest(dir: string, files: string[], extra: string): string {
  const h = createHash('sha256').update(extra);
  for (const f of files) h.update(`\0${f}\0`).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

async function exists(engine: Engine, tag: string): Promise<boolean> {
  try {
    await engine.docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Builds a context folder; resolves when the image is tagged, rejects with the build's own error. */
async function build(
  engine: Engine,
  context: string,
  tag: string,
  buildArgs: Record<string, string>,
  req: ImageRequest,
) {
  // the host network: the package mirror of the shipped Dockerfile is reached as this machine reaches it
  const r = await buildImage(engine, { context, tag, buildArgs, networkMode: 'host', onLine: req.progress });
  if (r.error !== null) {
    throw new SandboxError('docker_unavailable', `building the box image ${tag} failed: ${r.error}`, {
      image: tag,
      log: r.log.slice(-4000),
    });
  }
  if (!(await exists(engine, tag))) {
    throw new SandboxError('docker_unavailable', `the build of ${tag} ended without the image`, {
      log: r.log.slice(-4000),
    });
  }
}

async function pythonImage(engine: Engine, req: ImageRequest): Promise<string> {
  if (req.image) {
    if (!(await exists(engine, req.image))) {
      throw new SandboxError(
        'docker_unavailable',
        `the image ${req.image} (--docker-image) is not on the engine`,
        { image: req.image },
        'pull or build it first, or leave --docker-image out to build the shipped Dockerfile',
      );
    }
    return req.image;
  }
  const assets = assetsDir(req.agentDir);
  const tag = `sandbox-mcp-python:${digest(assets, ['Dockerfile'], req.baseImage)}`;
  if (await exists(engine, tag)) return tag;
  const ctx = mkdtempSync(join(tmpdir(), 'sandbox-mcp-image-'));
  try {
    cpSync(join(assets, 'Dockerfile'), join(ctx, 'Dockerfile'));
    req.progress?.(`building ${tag} from ${req.baseImage} (first use; a few minutes)`);
    await build(engine, ctx, tag, { BASE_IMAGE: req.baseImage }, req);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return tag;
}

/** The box image's tag, built when missing (the Python layer, then the agent's). */
export async function ensureBoxImage(engine: Engine, req: ImageRequest): Promise<string> {
  const python = await pythonImage(engine, req);
  const pythonId = String((await engine.docker.getImage(python).inspect()).Id);
  const ctx = mkdtempSync(join(tmpdir(), 'sandbox-mcp-image-'));
  try {
    const assets = assetsDir(req.agentDir);
    cpSync(join(assets, 'Dockerfile.agent'), join(ctx, 'Dockerfile'));
    cpSync(req.agentDir, join(ctx, 'agent'), { recursive: true, filter: (p) => !p.includes('__pycache__') });
    cpSync(join(assets, 'docker_init.py'), join(ctx, 'agent', 'docker_init.py'));
    writeFileSync(join(ctx, '.dockerignore'), '**/__pycache__\n');
    const tag = `sandbox-mcp-box:${digest(ctx, contextFiles(ctx), pythonId)}`;
    if (await exists(engine, tag)) return tag;
    req.progress?.(`building ${tag} (the agent on ${python})`);
    await build(engine, ctx, tag, { BASE_IMAGE: python }, req);
    return tag;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** The shipped Dockerfile's base image when none is configured. */
export const DEFAULT_DOCKER_BASE_IMAGE = 'debian:bookworm-slim';

const cache = new Map<string, Promise<string>>();

/** ensureBoxImage once per process and request; a failure is forgotten so the next box tries again. */
export function boxImage(engine: Engine, req: ImageRequest): Promise<string> {
  const key = `${engine.endpoint.host}\0${req.agentDir}\0${req.image ?? ''}\0${req.baseImage}`;
  let p = cache.get(key);
  if (!p) {
    p = ensureBoxImage(engine, req);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}
