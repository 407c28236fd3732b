/**
 * Every workflow sluice registers. The names are the public API (docs/architecture.md,
 * "Workflows"); their inputs and results are declared in api/workflows.
 */
export { backfill, backfillRange } from './backfill';
export { healthCheck } from './healthCheck';
export { ingest } from './ingest';
export { pipeline } from './pipeline';
export { pipelineTrigger } from './pipelineTrigger';
export { registerTransform } from './registerTransform';
export { snapshot } from './snapshot';
export { train } from './train';
export { transform } from './transform';
export { validate } from './validate';
export { evaluate } from './evaluate';
export { deploy, rollback } from './deploy';
export { monitor } from './monitor';
