/**
 * `train`: a model (built-in trainer, or a `command` trainer: the user's executable) from a
 * dataset snapshot: train → evaluate → register, each its own
 * activity, so a failure in evaluation retries evaluation only. Training runs on the GPU queue (or
 * the CPU queue), heartbeats every epoch and checkpoints to the artifact store, so a retry after a
 * worker crash resumes from the last checkpoint and ends with the same model bytes. Evaluation
 * scores the snapshot's test rows with ONNX Runtime and writes the model card; registration gives
 * the model its version in sluice.models, with its lineage.
 */
import {
  patched,
  proxyActivities,
  proxyLocalActivities,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { EvaluateActivities, InputCheckActivities, RegistryActivities, TrainActivities } from '../activities';
import { DEFAULT_TASK_QUEUES } from '../api/queues';
import { SluiceDataset, SluiceModel, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { TrainInput, TrainResult } from '../api/workflows/train';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS, LOCAL_QUICK_CALLS_PATCH } from './activityOptions';
import { pipelineOf, sluiceStatusPatched, withSluiceStatus } from './status';

export type { TrainInput, TrainResult };

/**
 * Trains (see the module comment) and returns the model's digest and training figures. Side
 * effects: checkpoints and the ONNX file in the artifact store, run events. Idempotent: the same
 * input gives the same model bytes. Errors: SLUICE_INVALID_INPUT (data that cannot train a model),
 * SLUICE_DATASET_NOT_FOUND, SLUICE_TRAINER_FAILED and SLUICE_TRAINER_OUTPUT_INVALID (command trainers).
 */
export async function train(input: TrainInput): Promise<TrainResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => trainBody(input, statusPatched));
}

async function trainBody(input: TrainInput, statusPatched: boolean): Promise<TrainResult> {
  const check = patched(LOCAL_QUICK_CALLS_PATCH)
    ? proxyLocalActivities<InputCheckActivities>(LOCAL_ACTIVITY_OPTIONS.inputCheck)
    : proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
  await check.checkWorkflowInput('train', input);
  upsertSearchAttributes([
    { key: SluicePipeline, value: statusPatched ? pipelineOf(input.model) : input.model },
    { key: SluiceStep, value: 'train' },
    { key: SluiceStatus, value: 'running' },
    { key: SluiceDataset, value: input.datasetId },
  ]);
  const { trainModel } = proxyActivities<TrainActivities>(trainModelOptions(input));
  try {
    const r = await trainModel(trainModelArgs(input));
    const cpuQueue = input.queues?.cpu ?? workflowInfo().taskQueue;
    upsertSearchAttributes([{ key: SluiceStep, value: 'evaluate' }]);
    const { evaluateModel } = proxyActivities<EvaluateActivities>({ ...ACTIVITY_OPTIONS.evaluate, taskQueue: cpuQueue });
    const { runEventDetails: _details, ...evaluation } = await evaluateModel(evaluateModelArgs(input, r));
    upsertSearchAttributes([{ key: SluiceStep, value: 'register' }]);
    const { registerModel } = proxyActivities<RegistryActivities>({ ...ACTIVITY_OPTIONS.dbQuick, taskQueue: cpuQueue });
    const registered = await registerModel(registerModelArgs(input, r, evaluation));
    upsertSearchAttributes([
      { key: SluiceModel, value: `${input.model}@${registered.version}` },
      { key: SluiceStatus, value: 'completed' },
    ]);
    upsertMemo({
      model: `${input.model}@${registered.version}`,
      card: { uri: evaluation.cardUri, sha256: evaluation.cardSha256 },
      onnx: { uri: r.onnxUri, sha256: r.onnxSha256 },
      epochs: r.epochs,
      resumedFromEpoch: r.resumedFromEpoch,
    });
    return trainResult(input, r, evaluation, registered.version);
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw err;
  }
}

type TrainModelResult = Awaited<ReturnType<TrainActivities['trainModel']>>;
type Evaluation = Omit<Awaited<ReturnType<EvaluateActivities['evaluateModel']>>, 'runEventDetails'>;

/** The trainModel activity's options: the GPU queue (or the CPU queue for `device: cpu`), the input's heartbeat timeout. */
export function trainModelOptions(input: TrainInput): ActivityOptions {
  const taskQueue =
    input.device === 'cpu' ? (input.queues?.cpu ?? workflowInfo().taskQueue) : (input.queues?.gpu ?? DEFAULT_TASK_QUEUES.gpu);
  const heartbeatTimeout =
    input.heartbeatSeconds === undefined ? ACTIVITY_OPTIONS.training.heartbeatTimeout : `${input.heartbeatSeconds} seconds`;
  return { ...ACTIVITY_OPTIONS.training, heartbeatTimeout, taskQueue };
}

export function trainModelArgs(input: TrainInput): Parameters<TrainActivities['trainModel']>[0] {
  return {
    datasetId: input.datasetId,
    spec: input.spec,
    trainer: input.trainer,
    seed: input.seed,
    checkpointEveryEpochs: input.checkpointEveryEpochs,
    ...(input.checkpointEverySeconds === undefined ? {} : { checkpointEverySeconds: input.checkpointEverySeconds }),
  };
}

/** Evaluation of the trained model on the snapshot's test rows, with its lineage (the producing run: this workflow). */
export function evaluateModelArgs(input: TrainInput, r: TrainModelResult): Parameters<EvaluateActivities['evaluateModel']>[0] {
  return {
    onnxSha256: r.onnxSha256,
    testSplit: { arrowSha256: input.datasetId },
    task: input.spec.task,
    ...(r.classes ? { classes: r.classes } : {}),
    modelName: input.model,
    lineage: {
      model: input.model,
      datasetId: input.datasetId,
      trainer: input.trainer.trainer,
      parameters: { ...input.trainer },
      seed: input.seed,
      workflowId: workflowInfo().workflowId,
      runId: workflowInfo().runId,
    },
  };
}

export function registerModelArgs(
  input: TrainInput,
  r: TrainModelResult,
  evaluation: Evaluation,
): Parameters<RegistryActivities['registerModel']>[0] {
  return {
    name: input.model,
    datasetId: input.datasetId,
    task: input.spec.task,
    trainer: { kind: input.trainer.trainer, parameters: { ...input.trainer } },
    seed: input.seed,
    metrics: evaluation.metrics,
    onnxSha256: r.onnxSha256,
    card: { sha256: evaluation.cardSha256, uri: evaluation.cardUri },
  };
}

export function trainResult(input: TrainInput, r: TrainModelResult, evaluation: Evaluation, version: number): TrainResult {
  return {
    version,
    metrics: evaluation.metrics,
    cardUri: evaluation.cardUri,
    cardSha256: evaluation.cardSha256,
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
}
