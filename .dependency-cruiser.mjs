// Import rules for src/ checked by `npm run lint` (depcruise src): no cycle between folders, none between files,
// and the root's small shared modules import no folder. Type-only and dynamic imports count like any other.
/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment:
        'Folders under src/ are layered (docs/ARCHITECTURE.md, Layers): a folder never reaches itself again through ' +
        'the folders it imports. Move the shared piece down a layer, or pass it in as a hook.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-file-cycle',
      comment: 'A file never reaches itself again through its imports, type-only ones included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'root-modules-import-no-folder',
      comment:
        'The shared modules at the root of src/ sit below every folder; only the entry points and the settings ' +
        '(app.ts, cli.ts, config.ts, settings.ts) import folders.',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$', pathNot: '^src/(app|cli|config|settings)\\.ts$' },
      to: { path: '^src/[^/]+/' },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
