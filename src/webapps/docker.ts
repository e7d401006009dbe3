// `build_docker_image`: builds an export's bundle through the Docker Engine API when an engine answers (its lines
// streamed, the image id and tag returned, the build's own error on failure); otherwise a docker_unavailable error
// that says how to build elsewhere. Never builds implicitly, never pushes, and never runs the image.
import { SandboxError, invalidArgument } from '../errors.js';
import { connectEngine, type Engine } from '../sandbox/docker/engine.js';
import { buildImage } from '../sandbox/docker/image-build.js';
import type { BuildResult } from './types.js';

const TAG =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
/** An image reference as `FROM` takes it: [registry[:port]/]path[:tag][@sha256:digest]. */
const IMAGE_REF =
  /^(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::\d{1,5})?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
/** Lines of build output sent as progress; the rest is only in the log tail. */
const STREAM_LINES = 2000;
const TAIL_LINES = 40;

export function validateTag(tag: string): string {
  if (tag.length > 200 || !TAG.test(tag)) {
    throw invalidArgument(`'${tag}' is not a valid image tag (lowercase name, optional :tag)`, { tag });
  }
  return tag;
}

export interface BuildArgs {
  /** The Dockerfile's BASE_IMAGE: any image with python3 and pip. */
  baseImage?: string | undefined;
  /** The Dockerfile's PIP_INDEX_URL. */
  pipIndexUrl?: string | undefined;
}

/** The Dockerfile's build arguments, checked: an image reference, and an http(s) index URL without credentials. */
export function buildArgs(args: BuildArgs): Record<string, string> {
  const out: Record<string, string> = {};
  if (args.baseImage !== undefined) {
    if (args.baseImage.length > 255 || !IMAGE_REF.test(args.baseImage)) {
      throw invalidArgument(
        `'${args.baseImage}' is not an image reference ([registry/]name[:tag][@sha256:digest])`,
        { base_image: args.baseImage },
      );
    }
    out.BASE_IMAGE = args.baseImage;
  }
  if (args.pipIndexUrl !== undefined) {
    const raw = args.pipIndexUrl;
    const url = URL.canParse(raw) ? new URL(raw) : null;
    if (!url || !/^https?:$/.test(url.protocol) || /\s/.test(raw) || [...raw].some((c) => c < ' ')) {
      throw invalidArgument(`'${args.pipIndexUrl}' is not an http or https URL`, {
        pip_index_url: args.pipIndexUrl,
      });
    }
    if (url.username || url.password) {
      throw new SandboxError(
        'invalid_argument',
        "pip_index_url carries credentials, which would stay readable in the image's history",
        { pip_index_url: `${url.protocol}//${url.host}${url.pathname}` },
        'give an index that needs no credentials in its URL (or configure pip in the base image)',
      );
    }
    out.PIP_INDEX_URL = args.pipIndexUrl;
  }
  return out;
}

/** The engine, or a docker_unavailable error whose hint gives the commands to build elsewhere. */
async function engineOrHint(exportName: string, dir: string, tag: string, port: number): Promise<Engine> {
  try {
    return await connectEngine();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SandboxError(
      'docker_unavailable',
      `${reason}; the bundle is ready to build elsewhere`,
      { export_name: exportName, path: dir, reason },
      `copy ${dir} to a machine with Docker, then run there: \`docker build -t ${tag} . && docker run --rm -p ${port}:${port} ${tag}\` ` +
        '(or `docker compose up --build`)',
    );
  }
}

export interface DockerBuildRequest {
  exportName: string;
  dir: string;
  tag: string;
  port: number;
  buildArgs: Record<string, string>;
  /** Each line of the build's output, while it runs. */
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

export async function dockerBuild(req: DockerBuildRequest): Promise<BuildResult> {
  const engine = await engineOrHint(req.exportName, req.dir, req.tag, req.port);
  const timeoutMs = req.timeoutMs ?? 20 * 60_000;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  const onAbort = () => stop.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  let streamed = 0;
  const t0 = performance.now();
  try {
    const r = await buildImage(engine, {
      context: req.dir,
      tag: req.tag,
      buildArgs: req.buildArgs,
      signal: stop.signal,
      onLine: (line) => {
        streamed += 1;
        if (streamed <= STREAM_LINES) req.onLine?.(line.slice(0, 2000));
        else if (streamed === STREAM_LINES + 1)
          req.onLine?.('[further build lines are in the log tail only]');
      },
    });
    const tail = r.log.trimEnd().split('\n').slice(-TAIL_LINES);
    if (r.error !== null) {
      const why = stop.signal.aborted
        ? req.signal?.aborted
          ? 'cancelled'
          : `timed out after ${Math.round(timeoutMs / 1000)} s`
        : r.error;
      throw new SandboxError(
        'runtime_error',
        `docker build of ${req.tag} failed: ${why}`,
        { export_name: req.exportName, tag: req.tag, build_error: r.error, log_tail: tail },
        'the log tail shows the failing step; fix the bundle (requirements.txt, the app files) or the build ' +
          'arguments, then build again',
      );
    }
    const imageId = r.imageId ?? ((await engine.docker.getImage(req.tag).inspect()) as { Id: string }).Id;
    return {
      export_name: req.exportName,
      tag: req.tag,
      image_id: imageId,
      duration_ms: Math.round(performance.now() - t0),
      log_tail: tail,
    };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
}
