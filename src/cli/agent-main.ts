/** Entry point of `kubesolo-update`, the on-device agent. */
import { agentProgram } from './agent/program.js';
import { main } from './program.js';

// No top-level await: the same entry is bundled as ESM (dist/*.mjs) and as CommonJS for
// the single-file executable, whose embedded main script Node.js 24 runs as CommonJS.
// main() catches every error itself and exits with the mapped code.
void main(agentProgram);
