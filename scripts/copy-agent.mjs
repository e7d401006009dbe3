// Build step: copies the in-box Python agent next to the compiled JavaScript so the package runs from dist/.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/src/agent', { recursive: true });
cpSync('src/agent', 'dist/src/agent', { recursive: true, filter: (p) => !p.includes('__pycache__') });
// The Docker backend's Dockerfiles and its box's pid 1 (src/sandbox/docker/image.ts finds them next to the agent).
mkdirSync('dist/src/sandbox/docker/assets', { recursive: true });
cpSync('src/sandbox/docker/assets', 'dist/src/sandbox/docker/assets', {
  recursive: true,
  filter: (p) => !p.includes('__pycache__'),
});
