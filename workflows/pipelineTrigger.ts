import {
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { InputCheckActivities, PipelineActivities } from '../activities';
import { pipelineWorkflowId } from '../api/ids';
import { pipelineDataLandedSignal, pipelineTriggerQuery } from '../api/messages';
import { SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { PipelineInput } from '../api/workflows/pipeline';
import { landedTriggerKey, type PipelineTriggerInput, type PipelineTriggerState } from '../api/workflows/pipelineTrigger';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { pipeline, workflowTime } from './pipeline';

export type { PipelineTriggerInput };

/** Runs started before the trigger continues as new (its history stays small). */
const RUNS_PER_HISTORY = 100;

/**
 * The `dataLanded` trigger of one pipeline (see api/workflows/pipelineTrigger.ts). Rows signalled
 * by ingestion accumulate until `minRows` have landed or `maxWaitSeconds` have passed since the
 * first of them; then it starts a run of the pipeline's latest spec version under the trigger key
 * `landed-<last log offset>` (abandoned by this workflow: the run outlives it). The same offset
 * never starts a second run (the pipeline's id policy refuses a duplicate, which is taken as
 * done). Never ends on its own; continues as new every {@link RUNS_PER_HISTORY} runs.
 */
export async function pipelineTrigger(input: PipelineTriggerInput): Promise<void> {
  const specs = proxyActivities<PipelineActivities>(ACTIVITY_OPTIONS.dbQuick);
  const minRows = input.minRows ?? 1;
  const state: PipelineTriggerState = {
    pipeline: input.pipeline,
    pendingRows: input.pending?.rows ?? 0,
    lastToSeq: input.pending?.toSeq ?? null,
    started: [],
  };
  let pendingSince: number | null = input.pending && input.pending.rows > 0 ? input.pending.sinceMs : null;
  setHandler(pipelineTriggerQuery, () => state);
  setHandler(pipelineDataLandedSignal, (landed) => {
    state.pendingRows += landed.rows;
    if (state.lastToSeq === null || BigInt(landed.toSeq) > BigInt(state.lastToSeq)) state.lastToSeq = landed.toSeq;
    pendingSince ??= workflowTime();
  });
  // Handlers before the first await: a signal that started this workflow is not missed.
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('pipelineTrigger', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.pipeline },
    { key: SluiceStep, value: 'trigger' },
    { key: SluiceStatus, value: 'running' },
  ]);

  const due = (): boolean =>
    state.pendingRows >= minRows ||
    (state.pendingRows > 0 &&
      input.maxWaitSeconds !== undefined &&
      pendingSince !== null &&
      workflowTime() - pendingSince >= input.maxWaitSeconds * 1000);

  for (let runs = 0; runs < RUNS_PER_HISTORY; ) {
    if (state.pendingRows > 0 && input.maxWaitSeconds !== undefined && pendingSince !== null) {
      const left = pendingSince + input.maxWaitSeconds * 1000 - workflowTime();
      if (left > 0) await condition(due, left);
    } else {
      await condition(due);
    }
    if (!due()) continue;
    const toSeq = state.lastToSeq as string;
    const rows = state.pendingRows;
    state.pendingRows = 0;
    pendingSince = null;
    const { version } = await specs.latestPipelineVersion({ pipeline: input.pipeline });
    const runInput: PipelineInput = {
      pipeline: input.pipeline,
      specVersion: version,
      triggerKey: landedTriggerKey(toSeq),
      reason: `dataLanded: ${rows} rows up to log offset ${toSeq}`,
    };
    const workflowId = pipelineWorkflowId(input.pipeline, runInput.triggerKey);
    try {
      await startChild(pipeline, {
        workflowId,
        args: [runInput],
        taskQueue: workflowInfo().taskQueue,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [{ key: SluicePipeline, value: input.pipeline }],
      });
      state.started.push(workflowId);
    } catch (err) {
      // This offset already has its run (a signal repeated after a retry): nothing to start.
      if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    }
    runs++;
  }
  await continueAsNew<typeof pipelineTrigger>({
    ...input,
    pending: state.lastToSeq === null ? undefined : { rows: state.pendingRows, toSeq: state.lastToSeq, sinceMs: pendingSince ?? 0 },
  });
}
