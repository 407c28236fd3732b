/** Every public workflow of sluice, by name: `client.start(workflows.backfill, input, …)`. */
import { backfill, backfillRange } from './backfill';
import { deploy, rollback } from './deploy';
import { evaluate } from './evaluate';
import { healthCheck } from './healthCheck';
import { ingest } from './ingest';
import { pipeline } from './pipeline';
import { pipelineTrigger } from './pipelineTrigger';
import { monitor } from './monitor';
import { registerTransform } from './registerTransform';
import { snapshot } from './snapshot';
import { train } from './train';
import { transform } from './transform';
import { validate } from './validate';

export const workflows = {
  healthCheck,
  ingest,
  transform,
  registerTransform,
  backfill,
  backfillRange,
  validate,
  snapshot,
  evaluate,
  train,
  deploy,
  rollback,
  pipeline,
  pipelineTrigger,
  monitor,
} as const;
export type WorkflowName = keyof typeof workflows;
export type AnyWorkflowDef = (typeof workflows)[WorkflowName];
