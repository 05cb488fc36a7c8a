/** Entry point of `kubesolo-release`, the publisher's tool. */
import { releaseProgram } from './release/program.js';
import { main } from './program.js';

// No top-level await: see agent-main.ts (the entry is also bundled as CommonJS).
void main(releaseProgram);
