// The box-backend factory: every box the server starts goes through startBox, which runs it on bubblewrap (Box) or
// in a Docker container (DockerBox) as the configuration settled (`--isolation auto|bwrap|docker|none`).
import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import { Box, type BoxOptions } from '../box.js';
import { DockerBox, removeLeftoverContainers, type DockerSettings } from './docker-box.js';
import { connectEngine } from './engine.js';
import { findDockerEndpoint } from './endpoint.js';
import { removeLeftoverVolumes } from './workspace-volume.js';

type BackendConfig = Pick<
  Config,
  'isolation' | 'boxBackend' | 'dockerImage' | 'dockerBaseImage' | 'dockerWorkspace' | 'dataDir'
>;

/** This data dir's key on a shared engine: its boxes' names and labels carry it. */
export function dockerInstance(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
}

export function dockerSettings(config: BackendConfig, progress?: (line: string) => void): DockerSettings {
  return {
    endpoint: findDockerEndpoint(),
    image: config.dockerImage,
    baseImage: config.dockerBaseImage,
    instance: dockerInstance(config.dataDir),
    progress,
    workspace: config.dockerWorkspace,
    log: logSink,
  };
}

/** Whether this configuration runs its boxes in Docker containers. */
export function usesDocker(config: BackendConfig): boolean {
  return config.isolation !== 'none' && config.boxBackend === 'docker';
}

let progressSink: ((line: string) => void) | undefined;
/** The start's sweep of a killed predecessor's containers: it matches by label, so boxes are created after it. */
let swept: Promise<void> = Promise.resolve();
let logSink: ((msg: string, extra: Record<string, unknown>) => void) | undefined;

/** Where the first Docker box's image build reports its progress (the server's log). */
export function onDockerProgress(sink: (line: string) => void): void {
  progressSink = sink;
}

/** Starts one box on the configured backend. A DockerBox has Box's public face (docker-box.ts checks it). */
export function startBox(config: BackendConfig, opts: BoxOptions): Promise<Box> {
  if (!usesDocker(config)) return Box.start(opts);
  const settings = dockerSettings(config, progressSink);
  return swept.then(() => DockerBox.start(opts, settings)) as Promise<unknown> as Promise<Box>;
}

/** At server start on Docker: build progress goes to the log, and boxes a killed predecessor left are removed. */
export function startDockerBackend(
  config: BackendConfig,
  log: (msg: string, extra?: Record<string, unknown>) => void,
): void {
  const endpoint = findDockerEndpoint();
  log('boxes run as Docker containers', { docker_host: endpoint?.host ?? null });
  onDockerProgress((line) => log('docker image build', { line }));
  logSink = log;
  const notAnswering = (err: unknown) => log('the Docker engine does not answer yet', { err: String(err) });
  swept = removeLeftoverContainers(dockerSettings(config)).then((n) => {
    if (n > 0) log('removed Docker boxes left by the previous run', { count: n });
  }, notAnswering);
  void swept
    .then(async () => {
      const v = await removeLeftoverVolumes(await connectEngine(endpoint), dockerInstance(config.dataDir));
      if (v > 0) log('removed Docker workspace volumes left by the previous run', { count: v });
    })
    .catch(notAnswering);
}
