// Build step: copies the in-box Python agent next to the compiled JavaScript so the package runs from dist/.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/src/agent', { recursive: true });
cpSync('src/agent', 'dist/src/agent', { recursive: true, filter: (p) => !p.includes('__pycache__') });
