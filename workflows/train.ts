/**
 * `train`: a built-in model from a dataset snapshot. The training activity runs on the GPU queue
 * (or the CPU queue), heartbeats every epoch and checkpoints to the artifact store, so a retry
 * after a worker crash resumes from the last checkpoint and ends with the same model bytes.
 */
import { proxyActivities, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { InputCheckActivities, TrainActivities } from '../activities';
import { DEFAULT_TASK_QUEUES } from '../api/queues';
import { SluiceDataset, SluiceModel, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { TrainInput, TrainResult } from '../api/workflows/train';
import { ACTIVITY_OPTIONS } from './activityOptions';

export type { TrainInput, TrainResult };

/**
 * Trains (see the module comment) and returns the model's digest and training figures. Side
 * effects: checkpoints and the ONNX file in the artifact store, run events. Idempotent: the same
 * input gives the same model bytes. Errors: SLUICE_INVALID_INPUT (data that cannot train a model),
 * SLUICE_DATASET_NOT_FOUND.
 */
export async function train(input: TrainInput): Promise<TrainResult> {
  await proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck).checkWorkflowInput('train', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: input.model },
    { key: SluiceStep, value: 'train' },
    { key: SluiceStatus, value: 'running' },
    { key: SluiceDataset, value: input.datasetId },
  ]);
  const taskQueue =
    input.device === 'cpu' ? (input.queues?.cpu ?? workflowInfo().taskQueue) : (input.queues?.gpu ?? DEFAULT_TASK_QUEUES.gpu);
  const heartbeatTimeout = input.heartbeatSeconds === undefined ? ACTIVITY_OPTIONS.training.heartbeatTimeout : `${input.heartbeatSeconds} seconds`;
  const { trainModel } = proxyActivities<TrainActivities>({ ...ACTIVITY_OPTIONS.training, heartbeatTimeout, taskQueue });
  try {
    const r = await trainModel({
      datasetId: input.datasetId,
      spec: input.spec,
      trainer: input.trainer,
      seed: input.seed,
      checkpointEveryEpochs: input.checkpointEveryEpochs,
    });
    upsertSearchAttributes([
      { key: SluiceModel, value: `${input.model}@sha256:${r.onnxSha256.slice(0, 12)}` },
      { key: SluiceStatus, value: 'completed' },
    ]);
    upsertMemo({ model: { onnx: { sha256: r.onnxSha256, uri: r.onnxUri }, epochs: r.epochs, resumedFromEpoch: r.resumedFromEpoch } });
    return {
      model: input.model,
      datasetId: input.datasetId,
      onnxSha256: r.onnxSha256,
      onnxUri: r.onnxUri,
      epochs: r.epochs,
      resumedFromEpoch: r.resumedFromEpoch,
      finalLoss: r.finalLoss,
      validationMetric: r.validationMetric,
      validationMetricName: r.validationMetricName,
      device: r.device,
    };
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw err;
  }
}
