// The named volumes of a box whose engine does not share this machine's files: created with the instance label, given
// to the box uid, removed with the box (and, after a crash, at the next start), and the in-box listing run by exec.
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { BOX_AGENT_DIR, BOX_MPLCONFIG_DIR, BOX_WORKSPACE } from '../bwrap-argv.js';
import { BOX_LABEL, containerName, volumeMounts, type BoxVolumes } from './container-spec.js';
import { withTimeout, type Engine } from './engine.js';
import { MAX_MANIFEST_BYTES } from './workspace-manifest.js';

const SETUP_MS = 60_000;
/** This server process's mark on its volumes: the sweep at start removes only other processes' (leftovers). */
const RUN = randomBytes(8).toString('hex');
const EXEC_MS = 120_000;

/**
 * Creates the two volumes of one box and gives their roots to the box uid: a short-lived container of the box image,
 * root with only CAP_CHOWN and CAP_FOWNER, no network, read-only root, changes the owner of the two mount points.
 */
export async function createBoxVolumes(
  engine: Engine,
  p: { instance: string; name: string; image: string; uid: number; gid: number },
): Promise<BoxVolumes> {
  const base = `${containerName(p.instance, p.name)}-${randomBytes(4).toString('hex')}`;
  const labels = { [BOX_LABEL]: p.instance, [`${BOX_LABEL}.session`]: p.name, [`${BOX_LABEL}.run`]: RUN };
  const v = { workspace: `${base}-ws`, mplConfig: `${base}-mpl` };
  await engine.docker.createVolume({ Name: v.workspace, Labels: labels });
  try {
    await engine.docker.createVolume({ Name: v.mplConfig, Labels: labels });
    const setup = await engine.docker.createContainer({
      name: `${base}-init`,
      Image: p.image,
      Entrypoint: [],
      Cmd: [
        '/usr/bin/python3',
        '-I',
        '-c',
        'import os,sys\nfor d in sys.argv[3:]:\n os.chown(d,int(sys.argv[1]),int(sys.argv[2]));os.chmod(d,0o755)',
        String(p.uid),
        String(p.gid),
        BOX_WORKSPACE,
        BOX_MPLCONFIG_DIR,
      ],
      User: '0:0',
      Labels: labels,
      NetworkDisabled: true,
      HostConfig: {
        Mounts: volumeMounts(v),
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        CapAdd: ['CHOWN', 'FOWNER'],
        SecurityOpt: ['no-new-privileges:true'],
        Memory: 64 * 1024 * 1024,
        PidsLimit: 8,
      },
    });
    try {
      await setup.start();
      const r = (await withTimeout(setup.wait(), SETUP_MS, 'the volume set-up')) as { StatusCode?: number };
      if (r.StatusCode !== 0) throw new Error(`the volume set-up exited with ${r.StatusCode}`);
    } finally {
      await setup.remove({ force: true }).catch(() => undefined);
    }
    return v;
  } catch (err) {
    await removeBoxVolumes(engine, v);
    throw err;
  }
}

/** Removes a box's volumes (its container is gone or going: a volume still in use is retried for a while). */
export async function removeBoxVolumes(engine: Engine, v: BoxVolumes): Promise<void> {
  for (const name of [v.workspace, v.mplConfig]) {
    for (let i = 0; i < 50; i++) {
      try {
        await engine.docker.getVolume(name).remove();
        break;
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 409) break; // gone already (404) or not ours to wait for
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** Removes the volumes of this instance that an earlier server process left (after a crash); resolves with how many. */
export async function removeLeftoverVolumes(engine: Engine, instance: string): Promise<number> {
  const r = await engine.docker.listVolumes({ filters: { label: [`${BOX_LABEL}=${instance}`] } });
  const names = (r.Volumes ?? []).filter((v) => v.Labels?.[`${BOX_LABEL}.run`] !== RUN).map((v) => v.Name);
  await Promise.all(
    names.map((n) =>
      engine.docker
        .getVolume(n)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  return names.length;
}

/** The listing's module in the box image (src/agent/workspace_listing.py), run from the read-only agent folder. */
const LISTING_PY = `${BOX_AGENT_DIR}/workspace_listing.py`;

/**
 * Runs the listing module in the running box (as the box user): removes `deletions` there, then (with `list`)
 * answers the workspace's manifest text. Output past MAX_MANIFEST_BYTES, a non-zero exit or no answer in time is an
 * error.
 */
export async function runBoxManifest(
  container: Dockerode.Container,
  engine: Engine,
  deletions: string[],
  list = true,
): Promise<string> {
  const exec = await container.exec({
    Cmd: ['/usr/bin/python3', '-I', '-S', LISTING_PY, JSON.stringify(deletions), list ? 'list' : '-'],
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: false,
    WorkingDir: '/',
  });
  const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & PassThrough;
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  let bytes = 0;
  let errText = '';
  const read = new Promise<void>((resolve, reject) => {
    out.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > MAX_MANIFEST_BYTES) {
        stream.destroy();
        reject(new Error(`the workspace manifest is larger than ${MAX_MANIFEST_BYTES} bytes`));
      } else chunks.push(c);
    });
    err.on('data', (c: Buffer) => {
      errText = (errText + c.toString('utf8')).slice(-2000);
    });
    // the last demultiplexed chunks reach `out` after the stream's own end
    stream.on('end', () => setImmediate(resolve));
    stream.on('close', () => setImmediate(resolve));
    stream.on('error', reject);
  });
  engine.docker.modem.demuxStream(stream, out, err);
  await withTimeout(read, EXEC_MS, 'the workspace manifest');
  let info = (await exec.inspect()) as { ExitCode?: number | null; Running?: boolean };
  for (let i = 0; info.Running && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20));
    info = (await exec.inspect()) as typeof info;
  }
  if (info.ExitCode !== 0)
    throw new Error(`the workspace manifest failed (${info.ExitCode}): ${errText.trim()}`);
  return Buffer.concat(chunks).toString('utf8');
}
