/**
 * The `train` step's activity: train a built-in model on a snapshot, on the GPU queue (or the CPU
 * queue where no GPU worker runs). Long training heartbeats each epoch (epoch, loss, validation
 * metric) and writes a checkpoint to the artifact store every `checkpointEveryEpochs` epochs; a
 * retry after a worker crash resumes from the checkpoint named in the last heartbeat, and ends
 * with the same model bytes as an uninterrupted run (activities/train/README.md, determinism).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { exportModelToOnnx } from '../onnx';
import { DEFAULT_SPLIT_COLUMN, trainingRowsFromArrow, type SplitColumn } from './arrowData';
import type { DatasetSpec } from './data';
import type { EpochReport } from './estimator';
import { ModelTraining, type TrainerParams } from './train';

export interface TrainModelStepInput {
  /** sha256 of the snapshot's Arrow IPC file in the artifact store (= the dataset id). */
  datasetId: string;
  spec: DatasetSpec;
  trainer: TrainerParams;
  seed: number;
  /** Write a checkpoint every this many epochs (default 5; 0: never). */
  checkpointEveryEpochs?: number;
  splitColumn?: SplitColumn;
}

/** What a heartbeat carries: where a retry resumes. */
export interface TrainingProgress extends EpochReport {
  /** sha256 of the latest checkpoint in the artifact store, and the epoch it holds. */
  checkpoint?: { sha256: string; epoch: number };
}

export interface TrainModelStepResult {
  onnxSha256: string;
  onnxUri: string;
  onnxBytes: number;
  epochs: number;
  /** Epoch of the checkpoint this attempt resumed from (0: started from scratch). */
  resumedFromEpoch: number;
  finalLoss: number;
  validationMetric: number | null;
  validationMetricName: string | null;
  classes: (string | number)[] | null;
  trainRows: number;
  validationRows: number;
  /** Where the model was trained; the built-in trainers run on the CPU of the worker's host. */
  device: string;
  runEventDetails: Record<string, unknown>;
}

function isProgress(v: unknown): v is TrainingProgress {
  return v !== null && typeof v === 'object' && typeof (v as { epoch?: unknown }).epoch === 'number';
}

export function createTrainActivities(deps: Pick<ActivityDeps, 'artifacts' | 'log'>) {
  return {
    /**
     * Trains a model on the snapshot's training rows (validating on its validation rows), then
     * exports it to ONNX with its preprocessing and stores the file by sha256. Heartbeats every
     * epoch; checkpoints every `checkpointEveryEpochs`; resumes from the last checkpoint on retry.
     * Idempotent: the same input gives the same model bytes. Throws SLUICE_INVALID_INPUT (data that
     * cannot train a model, a checkpoint of another run), SLUICE_DATASET_NOT_FOUND.
     */
    async trainModel(input: TrainModelStepInput): Promise<TrainModelStepResult> {
      const bytes = await deps.artifacts.get(input.datasetId);
      const rows = trainingRowsFromArrow(bytes, input.spec, input.splitColumn ?? DEFAULT_SPLIT_COLUMN);
      const runInput = { data: rows.data, spec: input.spec, trainer: input.trainer, seed: input.seed, split: rows.split };
      const every = input.checkpointEveryEpochs ?? 5;
      return withHeartbeat(async (hb) => {
        const previous = isProgress(hb.previous) ? hb.previous : undefined;
        let run: ModelTraining;
        let resumedFromEpoch = 0;
        let checkpoint = previous?.checkpoint;
        if (checkpoint) {
          run = ModelTraining.resume(runInput, await deps.artifacts.get(checkpoint.sha256));
          resumedFromEpoch = run.epoch;
          deps.log(`training resumes from the checkpoint of epoch ${resumedFromEpoch}`, { checkpoint: checkpoint.sha256 });
        } else {
          run = ModelTraining.start(runInput);
        }
        let last: EpochReport | undefined;
        while (!run.done) {
          hb.checkCancelled();
          last = run.runEpoch();
          if (every > 0 && run.epoch % every === 0 && !run.done) {
            const stored = await deps.artifacts.put(run.checkpoint(), { mediaType: 'application/octet-stream', extension: '.ckpt' });
            checkpoint = { sha256: stored.sha256, epoch: run.epoch };
          }
          hb.progress({ ...last, ...(checkpoint ? { checkpoint } : {}) } satisfies TrainingProgress);
          // An epoch is synchronous work: let heartbeats and cancellation through between epochs.
          await yieldToEventLoop();
        }
        const model = run.model();
        const onnx = await deps.artifacts.put(exportModelToOnnx(model), { mediaType: 'application/onnx', extension: '.onnx' });
        return {
          onnxSha256: onnx.sha256,
          onnxUri: onnx.uri,
          onnxBytes: onnx.size,
          epochs: run.epoch,
          resumedFromEpoch,
          finalLoss: last?.loss ?? Number.NaN,
          validationMetric: last?.validationMetric ?? null,
          validationMetricName: last?.validationMetricName ?? null,
          classes: model.classes ?? null,
          trainRows: rows.split.train.length,
          validationRows: rows.split.validation.length,
          device: 'cpu',
          runEventDetails: {
            datasetId: input.datasetId,
            onnxSha256: onnx.sha256,
            resumedFromEpoch,
            epochs: run.epoch,
            trainer: input.trainer.trainer,
            seed: input.seed,
          },
        };
      });
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
