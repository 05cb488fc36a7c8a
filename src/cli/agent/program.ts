/** The command tree of `kubesolo-update`, the on-device agent. */
import { VERSION } from '../../version.js';
import type { Program } from '../command.js';
import { updateConfPage } from '../update-conf-page.js';
import { AGENT_ENVIRONMENT, AGENT_FILES } from './manual.js';
import { activateCommand } from './activate.js';
import { applyCommand } from './apply.js';
import { checkCommand } from './check.js';
import { cloudInitCommand } from './cloud-init.js';
import { devCommand } from './dev.js';
import {
  AGENT_SHARED_GLOBALS,
  agentGlobalOptions,
  makeAgentGlobal,
  type AgentGlobal,
} from './global.js';
import { commitCommand } from './commit.js';
import { forgetCommand } from './forget.js';
import { healthcheckCommand } from './healthcheck.js';
import { holdCommand } from './hold.js';
import { markBadCommand } from './mark-bad.js';
import { unholdCommand } from './unhold.js';
import { metricsCommand } from './metrics.js';
import { rollbackCommand } from './rollback.js';
import { statusCommand } from './status.js';

export const agentProgram: Program<AgentGlobal> = {
  name: 'kubesolo-update',
  summary: 'A/B over-the-air update agent for KubeSolo OS',
  version: VERSION,
  globalOptions: agentGlobalOptions,
  sharedGlobals: AGENT_SHARED_GLOBALS,
  permissionHint: 'Run as root on the device, or pass --root DIR.',
  files: AGENT_FILES,
  environment: AGENT_ENVIRONMENT,
  pages: { 'update.conf': () => updateConfPage('kubesolo-update', VERSION) },
  commands: [
    checkCommand,
    applyCommand,
    activateCommand,
    rollbackCommand,
    healthcheckCommand,
    commitCommand,
    markBadCommand,
    holdCommand,
    unholdCommand,
    forgetCommand,
    statusCommand,
    metricsCommand,
    cloudInitCommand,
    devCommand,
  ],
  makeGlobal: makeAgentGlobal,
};
