// Bundle each binary into one ESM file next to `node`, so the agent starts fast
// (one file to read and compile, no module resolution at start-up). The single-file
// executables (`npm run package`, scripts/package.mjs) bundle the same entry points.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { BINARIES, BUNDLE_OPTIONS, ESM_REQUIRE_BANNER } from './bundle-options.mjs';

for (const [name, entry] of Object.entries(BINARIES)) {
  const outfile = `dist/${name}.mjs`;
  await build({
    ...BUNDLE_OPTIONS,
    // Not minified (the single-file executables are, scripts/package.mjs): coverage maps
    // these bundles back to src/, and v8-to-istanbul moves a position to the original
    // line of its generated line's column 0 when that line is later. A minified line
    // holds many modules, so 43 % of src/ positions landed in another file; with a
    // statement per line none do (README, "Coverage").
    minify: false,
    entryPoints: [entry],
    outfile,
    format: 'esm',
    // The linked map is what coverage counts the CLI and integration tests by: c8 maps
    // each bundle's V8 coverage back to src/ through it (README, "Coverage"). Its
    // sources are ../src/*.ts next to dist/, read from disk, so the map carries no copy
    // of them: every process the tests spawn writes the map into its coverage file.
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: `#!/usr/bin/env node\n${ESM_REQUIRE_BANNER}` },
  });
  await chmod(outfile, 0o755);
}
