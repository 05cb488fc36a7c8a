// The esbuild options every bundle of the project shares (scripts/build.mjs,
// scripts/package.mjs, the start-up benchmark's probes): one place for the target
// runtime, so the bundles and the pinned Node.js (package.json optionalDependencies
// node-linux-*) move together.
/** The two command-line tools and their entry points. */
export const BINARIES = {
  'kubesolo-update': 'src/cli/agent-main.ts',
  'kubesolo-release': 'src/cli/release-main.ts',
};

export const NODE_TARGET = 'node24';

export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: NODE_TARGET,
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

// ESM bundles run by `node` need a require() for the CommonJS dependencies they inline
// (undici calls require('node:...')).
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __ksCreateRequire } from 'node:module';\nconst require = __ksCreateRequire(import.meta.url);";
