import { proxyActivities, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { EvaluateActivities, InputCheckActivities } from '../activities';
import type { EvaluateModelResult } from '../api/models';
import { SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { EvaluateModelInput } from '../api/workflows/evaluate';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { pipelineOf, sluiceStatusPatched, withSluiceStatus } from './status';

export type { EvaluateModelInput, EvaluateModelResult };

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const scoring = proxyActivities<EvaluateActivities>(ACTIVITY_OPTIONS.evaluate);

/**
 * Evaluates a model on its own: scores the test split of an Arrow file with the ONNX model, and
 * publishes the metrics (JSON) and the model card (HTML) in the artifact store, linked from the
 * memo and the run event. The `train` workflow calls the same activity between training
 * and registration. Writes only artifacts. Throws SLUICE_INVALID_INPUT, SLUICE_ARTIFACT_NOT_FOUND,
 * SLUICE_ARTIFACT_CORRUPT.
 */
export async function evaluate(input: EvaluateModelInput): Promise<EvaluateModelResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => evaluateBody(input, statusPatched));
}

async function evaluateBody(input: EvaluateModelInput, statusPatched: boolean): Promise<EvaluateModelResult> {
  await check.checkWorkflowInput('evaluate', input);
  upsertSearchAttributes([
    ...(statusPatched && input.modelName ? [{ key: SluicePipeline, value: pipelineOf(input.modelName) }] : []),
    { key: SluiceStep, value: 'evaluate' },
    { key: SluiceStatus, value: 'running' },
  ]);
  const { runEventDetails: _details, ...result } = await scoring.evaluateModel(input);
  upsertMemo({
    card: { uri: result.cardUri, sha256: result.cardSha256 },
    metrics: { uri: result.metricsUri, sha256: result.metricsSha256 },
    executionProvider: result.executionProvider,
  });
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
