// Creates a box's container under its session's name, which a container that just ended may still hold while the
// engine removes it (AutoRemove after exit), or a killed server's leftover may hold: such a holder is removed and the
// creation tried again, within a bound.
import type Dockerode from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import { withTimeout, type Engine } from './engine.js';

const NAME_FREE_MS = 15_000;

function nameTaken(err: unknown): boolean {
  return (err as { statusCode?: number } | null)?.statusCode === 409;
}

/** The engine's createContainer, after removing whatever container holds the spec's name (bounded wait). */
export async function createBoxContainer(
  engine: Engine,
  spec: ContainerCreateOptions & { name: string },
): Promise<Dockerode.Container> {
  const deadline = Date.now() + NAME_FREE_MS;
  for (;;) {
    try {
      return await engine.docker.createContainer(spec);
    } catch (err) {
      const left = deadline - Date.now();
      if (!nameTaken(err) || left <= 0) throw err;
      const holder = engine.docker.getContainer(spec.name);
      // a removal already under way answers 409 here; waiting for "removed" covers both
      await holder.remove({ force: true }).catch(() => undefined);
      await withTimeout(holder.wait({ condition: 'removed' }), left, 'the old box container').catch(
        () => undefined,
      );
    }
  }
}
