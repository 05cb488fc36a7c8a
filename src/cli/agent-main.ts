/** Entry point of `kubesolo-update`, the on-device agent. */
import { agentProgram } from './agent/program.js';
import { main } from './program.js';

await main(agentProgram);
