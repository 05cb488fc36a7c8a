// Bundle each binary into one ESM file next to `node`, so the agent starts fast
// (one file to read and compile, no module resolution at start-up).
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

const binaries = {
  'kubesolo-update': 'src/cli/agent-main.ts',
  'kubesolo-release': 'src/cli/release-main.ts',
};

for (const [name, entry] of Object.entries(binaries)) {
  const outfile = `dist/${name}.mjs`;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    banner: {
      // Some bundled CommonJS dependencies (undici) call require(); give them one.
      js: "#!/usr/bin/env node\nimport { createRequire as __ksCreateRequire } from 'node:module';\nconst require = __ksCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
}
