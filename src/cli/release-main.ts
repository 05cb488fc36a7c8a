/** Entry point of `kubesolo-release`, the publisher's tool. */
import { releaseProgram } from './release/program.js';
import { main } from './program.js';

await main(releaseProgram);
