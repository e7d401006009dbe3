// One image build through the Engine API (the classic builder): a folder sent as the build context, each line of the
// build's output passed on as it comes, and the build's own error when it fails. Builds the box image and exports.
import { lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Engine } from './engine.js';

/** At most this much of a build's output is kept (the end of it). */
const LOG_KEEP = 64 * 1024;

export interface BuildRequest {
  /** The folder sent as the build context (its .dockerignore applies). */
  context: string;
  tag: string;
  buildArgs: Record<string, string>;
  /** 'host' for a build that needs this machine's network; otherwise the engine's default, as `docker build`. */
  networkMode?: string;
  /** Each line of output, as the engine sends it. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

export interface BuildOutcome {
  /** The build's own error; null when the image was built and tagged. */
  error: string | null;
  /** The end of the build's output. */
  log: string;
  /** The built image's id as the build reported it (its aux message); null when it did not. */
  imageId: string | null;
}

interface BuildMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: unknown };
}

/** The regular files under dir, relative and sorted; symbolic links and caches are never followed or sent. */
export function contextFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === '__pycache__') continue;
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** Runs one build to its end; never throws for a failed build (the outcome says why), only for no engine. */
export async function buildImage(engine: Engine, req: BuildRequest): Promise<BuildOutcome> {
  let log = '';
  const keep = (text: string) => {
    log = (log + text).slice(-LOG_KEEP);
  };
  let stream: NodeJS.ReadableStream;
  try {
    stream = await engine.docker.buildImage(
      { context: req.context, src: contextFiles(req.context) },
      {
        t: req.tag,
        buildargs: req.buildArgs,
        ...(req.networkMode ? { networkmode: req.networkMode } : {}),
        rm: true,
        forcerm: true,
        version: '1',
        ...(req.signal ? { abortSignal: req.signal } : {}),
      },
    );
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), log, imageId: null };
  }
  return new Promise<BuildOutcome>((resolve) => {
    engine.docker.modem.followProgress(
      stream,
      (err: Error | null, output: BuildMessage[]) => {
        const failed = err?.message ?? output.find((m) => m.error)?.error ?? null;
        // the id of the image this build made, not whatever holds the tag by the time it is looked up
        const id = [...output].reverse().find((m) => typeof m.aux?.ID === 'string')?.aux?.ID;
        resolve({
          error: failed === null ? null : failed.trim(),
          log,
          imageId: typeof id === 'string' && /^sha256:[a-f0-9]{64}$/.test(id) ? id : null,
        });
      },
      (m: BuildMessage) => {
        const text = m.stream ?? m.status ?? m.error ?? '';
        if (!text) return;
        keep(text.endsWith('\n') ? text : `${text}\n`);
        for (const line of text.split('\n')) if (line.trim()) req.onLine?.(line.trimEnd());
      },
    );
  });
}
