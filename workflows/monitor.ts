/**
 * `monitor`: the threshold trigger. Measures drift and performance of a registered model's recent
 * data (one read-only activity), decides, and past a threshold starts the trigger's workflow (a
 * `train` run) as an independent run whose id comes from the monitor id and the last `seq`
 * checked: the same tick, run twice, starts one retrain.
 */
import {
  ParentClosePolicy,
  proxyActivities,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { InputCheckActivities, MonitorActivities, PipelineActivities } from '../activities';
import { pipelineWorkflowId } from '../api/ids';
import type { PipelineInput } from '../api/workflows/pipeline';
import { SluiceModel, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { MonitorInput, MonitorResult } from '../api/workflows/monitor';
import { ACTIVITY_OPTIONS } from './activityOptions';

export type { MonitorInput, MonitorResult };

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const { measureModelDrift } = proxyActivities<MonitorActivities>(ACTIVITY_OPTIONS.suite);
const { recordMonitorDecision } = proxyActivities<MonitorActivities>(ACTIVITY_OPTIONS.dbQuick);
const pipelineSpecs = proxyActivities<PipelineActivities>(ACTIVITY_OPTIONS.dbQuick);

/** The retrain's workflow id: the monitor and the end of the log range it checked (its business key). */
export function retrainWorkflowId(monitorId: string, tickKey: string): string {
  return `retrain-${monitorId}-${tickKey}`;
}

/**
 * Checks the model (see the module comment) and returns every feature's PSI/KS, the performance
 * figures and the decision. Side effects: run events; past a threshold, a `train` run (abandoned
 * by this one: it runs on after the monitor ends). Idempotent per tick. Errors:
 * SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_MODEL, SLUICE_UNKNOWN_TRANSFORM, SLUICE_DATASET_NOT_FOUND.
 */
export async function monitor(input: MonitorInput): Promise<MonitorResult> {
  await check.checkWorkflowInput('monitor', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.monitorId },
    { key: SluiceStep, value: 'monitor' },
    { key: SluiceStatus, value: 'running' },
    { key: SluiceModel, value: `${input.model.name}@${input.model.alias ?? 'champion'}` },
  ]);
  try {
    const { runEventDetails: _details, performanceToSeq, ...m } = await measureModelDrift(input);
    upsertSearchAttributes([{ key: SluiceModel, value: `${m.model}@${m.version}` }]);
    let result: MonitorResult;
    let retrainRunId: string | undefined;
    if (m.recentRows === 0 && m.performance.status === 'skipped') result = { ...m, decision: 'no-recent-data' };
    else if (m.reasons.length === 0) result = { ...m, decision: 'no-drift' };
    else if (!input.trigger) result = { ...m, decision: 'no-trigger' };
    else {
      const tick = m.logRange.toSeq ?? `p${performanceToSeq ?? '0'}`;
      const trigger = input.trigger;
      let workflowId: string;
      let start: { type: string; args: unknown[] };
      if (trigger.kind === 'train') {
        workflowId = retrainWorkflowId(input.monitorId, tick);
        start = { type: 'train', args: [trigger.input] };
      } else {
        const triggerKey = `monitor-${input.monitorId}-${tick}`;
        workflowId = pipelineWorkflowId(trigger.pipeline, triggerKey);
        const specVersion = trigger.specVersion ?? (await pipelineSpecs.latestPipelineVersion({ pipeline: trigger.pipeline })).version;
        const run: PipelineInput = {
          pipeline: trigger.pipeline,
          specVersion,
          triggerKey,
          reason: `monitor ${input.monitorId}: ${m.reasons.join('; ')}`,
        };
        start = { type: 'pipeline', args: [run] };
      }
      try {
        const child = await startChild(start.type, {
          workflowId,
          args: start.args,
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          memo: { reason: m.reasons.join('; '), logRange: m.logRange, table: m.table, model: `${m.model}@${m.version}` },
        });
        retrainRunId = child.firstExecutionRunId;
        result = { ...m, decision: 'retrain-started', retrainWorkflowId: workflowId };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        result = { ...m, decision: 'retrain-already-started', retrainWorkflowId: workflowId };
      }
    }
    await recordMonitorDecision({ result, ...(retrainRunId ? { retrainRunId } : {}) });
    upsertMemo({
      decision: result.decision,
      reasons: result.reasons,
      retrainWorkflowId: result.retrainWorkflowId ?? null,
      logRange: result.logRange,
    });
    upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
    return result;
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw err;
  }
}
