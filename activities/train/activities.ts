/**
 * The `train` step's activity: train a built-in model on a snapshot, on the GPU queue (or the CPU
 * queue where no GPU worker runs). Long training heartbeats each epoch (epoch, loss, validation
 * metric) and writes a checkpoint to the artifact store every `checkpointEveryEpochs` epochs; a
 * retry after a worker crash resumes from the checkpoint named in the last heartbeat, and ends
 * with the same model bytes as an uninterrupted run (activities/train/README.md, determinism).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ErrorCodes } from '../../api/errors';
import type { ActivityDeps } from '../deps';
import type { CreateSession } from '../evaluate/scoring';
import { SluiceError } from '../failures';
import { withHeartbeat } from '../heartbeat';
import { exportModelToOnnx } from '../onnx';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { DEFAULT_SPLIT_COLUMN, trainingRowsFromArrow, type SplitColumn } from './arrowData';
import { trainWithCommand, type CommandTrainerParams } from './commandTrainer';
import type { DatasetSpec } from './data';
import type { EpochReport } from './estimator';
import type { DeviceSlots } from './deviceSlots';
import { ModelTraining, type TrainerParams } from './train';

export interface TrainModelStepInput {
  /** sha256 of the snapshot's Arrow IPC file in the artifact store (= the dataset id). */
  datasetId: string;
  spec: DatasetSpec;
  /** A built-in trainer, or `command`: an executable of the user's (activities/train/README.md). */
  trainer: TrainerParams | CommandTrainerParams;
  seed: number;
  /** Write a checkpoint every this many epochs (default 5; 0: never). */
  checkpointEveryEpochs?: number;
  /**
   * Also write one once this many seconds have passed since the last (inside an epoch too, for
   * trainers whose epochs are batches): a crash then loses at most about this much work (default: 0, off).
   */
  checkpointEverySeconds?: number;
  splitColumn?: SplitColumn;
}

/** What a heartbeat carries: where a retry resumes, and how far training is (the CLI's progress line). */
export interface TrainingProgress extends Omit<EpochReport, 'loss'> {
  /** Training loss of the last epoch done (absent before the first). */
  loss?: number;
  /** The most epochs this run will do (it may stop earlier). */
  maxEpochs?: number;
  /** Inside an epoch: its training rows done so far, of `total`. */
  epochRows?: { done: number; total: number };
  /** sha256 of the latest checkpoint in the artifact store, and the epochs it holds (plus rows of the next, inside an epoch). */
  checkpoint?: { sha256: string; epoch: number; epochRowsDone?: number };
}

/**
 * How long training runs between two reports (heartbeat, cancellation check, time-based checkpoint):
 * a quarter of the heartbeat timeout, at most a second, so that even a long epoch heartbeats in time.
 */
export function reportIntervalMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.max(50, Math.min(1_000, (heartbeatTimeoutMs ?? 60_000) / 4));
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

export type TrainDeps = Pick<ActivityDeps, 'artifacts' | 'log'> & {
  /** The clock that times reports and checkpoints (tests step it); default: the system's. */
  now?: ActivityDeps['now'];
  config?: Pick<ActivityDeps['config'], 'commandTrainers' | 'python' | 'onnxCuda'>;
};

export interface TrainActivityOptions {
  /** The GPU worker's device slots (SLUICE_GPU_COUNT): each command trainer holds one while it runs. None: a CPU worker. */
  devices?: DeviceSlots;
  /** How ONNX Runtime sessions are made (tests replace it). */
  createSession?: CreateSession;
}

/** The snapshot's bytes, checked against its id; a missing one is SLUICE_DATASET_NOT_FOUND. */
async function readDataset(deps: TrainDeps, datasetId: string): Promise<Buffer> {
  try {
    return await readVerifiedArtifact(deps.artifacts, datasetId, 'dataset');
  } catch (err) {
    if (err instanceof SluiceError && err.code === ErrorCodes.ArtifactNotFound)
      throw new SluiceError(ErrorCodes.DatasetNotFound, `dataset ${datasetId} is not in the artifact store`, { details: { datasetId } });
    throw err;
  }
}

export function createTrainActivities(deps: TrainDeps, options: TrainActivityOptions = {}) {
  /** A command trainer's run, holding a device slot (on a GPU worker) while it runs. */
  async function trainCommandModel(
    input: TrainModelStepInput,
    trainer: CommandTrainerParams,
    bytes: Buffer,
  ): Promise<TrainModelStepResult> {
    const splitColumn = input.splitColumn ?? DEFAULT_SPLIT_COLUMN;
    const rows = trainingRowsFromArrow(bytes, input.spec, splitColumn);
    return withHeartbeat(async (hb) => {
      const slot = options.devices ? await options.devices.acquire(hb.signal) : undefined;
      try {
        const r = await trainWithCommand({
          params: trainer,
          spec: input.spec,
          seed: input.seed,
          datasetId: input.datasetId,
          arrow: bytes,
          rows,
          splitColumn,
          config: deps.config ?? { commandTrainers: false, python: 'python3', onnxCuda: false },
          ...(slot ? { device: slot } : {}),
          hb,
          log: deps.log,
          artifacts: deps.artifacts,
          ...(options.createSession ? { createSession: options.createSession } : {}),
        });
        if (r.details.executionProviderNote)
          deps.log(`trainModel: ${String(r.details.executionProviderNote)}`, { datasetId: input.datasetId });
        // Stored only once it passed every check: a refused model leaves no file behind to register.
        const onnx = await deps.artifacts.put(r.onnx, { mediaType: 'application/onnx', extension: '.onnx' });
        return {
          onnxSha256: onnx.sha256,
          onnxUri: onnx.uri,
          onnxBytes: onnx.size,
          epochs: r.epochs,
          resumedFromEpoch: r.resumedFromEpoch,
          finalLoss: r.finalLoss,
          validationMetric: r.validationMetric,
          validationMetricName: r.validationMetricName,
          classes: r.classes,
          trainRows: r.trainRows,
          validationRows: r.validationRows,
          device: r.device,
          runEventDetails: {
            datasetId: input.datasetId,
            onnxSha256: onnx.sha256,
            trainer: 'command',
            seed: input.seed,
            epochs: r.epochs,
            resumedFromEpoch: r.resumedFromEpoch,
            device: r.device,
            ...r.details,
          },
        };
      } finally {
        slot?.release();
      }
    });
  }

  return {
    /**
     * Trains a model on the snapshot's training rows (validating on its validation rows), then
     * exports it to ONNX with its preprocessing and stores the file by sha256. Heartbeats every
     * epoch; checkpoints every `checkpointEveryEpochs`; resumes from the last checkpoint on retry.
     * Idempotent: the same input gives the same model bytes. A `command` trainer runs the user's
     * executable instead (commandTrainer.ts: heartbeats its progress lines, holds a GPU slot, no
     * checkpoints: a retry starts it again) and stores its model only after checking it. The
     * dataset's bytes are checked against its id first. Throws SLUICE_INVALID_INPUT (data that
     * cannot train a model, a checkpoint of another run, command trainers not enabled),
     * SLUICE_DATASET_NOT_FOUND, SLUICE_ARTIFACT_CORRUPT (dataset or checkpoint bytes changed),
     * SLUICE_ARTIFACT_NOT_FOUND (checkpoint), SLUICE_TRAINER_FAILED (the executable exited non-zero,
     * timed out or wrote no model), SLUICE_TRAINER_OUTPUT_INVALID (its model does not fit the spec).
     */
    async trainModel(input: TrainModelStepInput): Promise<TrainModelStepResult> {
      const clock = (): number => (deps.now ? deps.now().getTime() : Date.now());
      const startedAt = clock();
      const trainer = input.trainer;
      if (trainer.trainer === 'command') return trainCommandModel(input, trainer, await readDataset(deps, input.datasetId));
      const every = input.checkpointEveryEpochs ?? 5;
      const everySeconds = input.checkpointEverySeconds ?? 0;
      const reportMs = reportIntervalMs(Context.current().info.heartbeatTimeoutMs);
      return withHeartbeat(
        async (hb) => {
          const previous = isProgress(hb.previous) ? hb.previous : undefined;
          // Preparing (reading the snapshot, encoding its rows, restoring the checkpoint) takes seconds on a
          // large dataset: heartbeat between its steps, with the last attempt's details, so that the server
          // still names that checkpoint if this attempt dies too.
          const preparing = (): void => hb.progress(previous ?? ({ epoch: 0 } satisfies TrainingProgress));
          preparing();
          const bytes = await readDataset(deps, input.datasetId);
          preparing();
          const rows = trainingRowsFromArrow(bytes, input.spec, input.splitColumn ?? DEFAULT_SPLIT_COLUMN);
          preparing();
          const runInput = { data: rows.data, spec: input.spec, trainer, seed: input.seed, split: rows.split };
          let run: ModelTraining;
          let resumedFromEpoch = 0;
          let checkpoint = previous?.checkpoint;
          if (checkpoint) {
            const saved = await readVerifiedArtifact(deps.artifacts, checkpoint.sha256, 'training checkpoint');
            preparing();
            run = ModelTraining.resume(runInput, saved);
            resumedFromEpoch = run.epoch;
            const inside = run.epochRows?.done ? ` and ${run.epochRows.done} of the ${run.epochRows.total} rows of the next` : '';
            deps.log(`training resumes from the checkpoint of epoch ${resumedFromEpoch}${inside}`, {
              checkpoint: checkpoint.sha256,
              preparedSeconds: (clock() - startedAt) / 1000,
            });
          } else {
            run = ModelTraining.start(runInput);
          }
          let last: EpochReport | undefined;
          let checkpointedAt = clock();
          while (!run.done) {
            hb.checkCancelled();
            // An epoch is synchronous work: it pauses every reportMs so that heartbeats, cancellation and checkpoints come on time.
            const pauseAt = clock() + reportMs;
            const report = run.advance(() => clock() >= pauseAt);
            if (report) last = report;
            const epochDue = report !== undefined && every > 0 && run.epoch % every === 0;
            const timeDue = everySeconds > 0 && clock() - checkpointedAt >= everySeconds * 1_000;
            if ((epochDue || timeDue) && !run.done) {
              const stored = await deps.artifacts.put(run.checkpoint(), { mediaType: 'application/octet-stream', extension: '.ckpt' });
              const rowsDone = run.epochRows?.done ?? 0;
              checkpoint = { sha256: stored.sha256, epoch: run.epoch, ...(rowsDone > 0 ? { epochRowsDone: rowsDone } : {}) };
              checkpointedAt = clock();
            }
            const epochRows = run.epochRows;
            hb.progress({
              ...(last ?? {}),
              epoch: run.epoch,
              maxEpochs: run.maxEpochs,
              ...(epochRows && epochRows.done > 0 ? { epochRows } : {}),
              ...(checkpoint ? { checkpoint } : {}),
            } satisfies TrainingProgress);
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
              trainer: trainer.trainer,
              seed: input.seed,
            },
          };
        },
        { everyMs: reportMs },
      );
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
