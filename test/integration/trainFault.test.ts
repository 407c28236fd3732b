// Resume, not restart: SIGKILL the GPU worker process in the middle of training; a new worker
// picks the activity up, resumes from the checkpoint named in the last heartbeat, and the model it
// stores has the same bytes as an uninterrupted run with the same seed. The same for a `command`
// trainer (the example PyTorch script), whose process outlives the killed worker until the retry
// stops it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import { createTrainActivities, type TrainingProgress, type TrainModelStepResult } from '../../activities/train/activities';
import type { CommandProgress } from '../../activities/train/commandTrainer';
import type { DatasetSpec } from '../../activities/train';
import { workflows, type TrainInput } from '../../api';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { mixedDataset } from '../helpers/trainData';
import { stackEnv, startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { startWorkerProcess, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';
import { isProcessAlive } from '../../scripts/provision/process';

const EXAMPLE = path.resolve(__dirname, '../../examples/trainers/torch_logistic.py');

describe('train: SIGKILL of the GPU worker mid-training', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let artifactsDir: string;
  let datasetId: string;
  const gpuWorkers: WorkerProcess[] = [];
  const { data, spec } = mixedDataset(30_000, 'multiclass');

  const startGpuWorker = async (): Promise<WorkerProcess> => {
    const w = startWorkerProcess('workers/gpu.ts', {
      ...stackEnv(stack),
      SLUICE_ARTIFACTS: artifactsDir,
      SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
      SLUICE_COMMAND_TRAINERS: 'true',
    });
    gpuWorkers.push(w);
    await w.ready;
    return w;
  };

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-train-fault-'));
    const parts = Array.from({ length: data.rowCount }, (_, i) => (i % 10 < 8 ? 0 : i % 10 < 9 ? 1 : 2));
    const columns: Record<string, unknown> = { __split: Int8Array.from(parts) };
    for (const [name, values] of Object.entries(data.columns))
      columns[name] = values instanceof Float64Array ? values : Array.from(values as ArrayLike<unknown>);
    const store = new LocalArtifactStore(artifactsDir);
    datasetId = (
      await store.put(tableToIPC(tableFromArrays(columns as Parameters<typeof tableFromArrays>[0]), 'file'), {
        mediaType: 'application/vnd.apache.arrow.file',
        extension: '.arrow',
      })
    ).sha256;
    // The CPU worker (workflows, evaluation, registration) runs here; the GPU queue only in worker processes.
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir } });
    // The registry row of the snapshot the model is trained on (written by the snapshot step in a pipeline).
    await stack.db.pool.query('INSERT INTO sluice.datasets (id, row_count, artifact_uri) VALUES ($1, $2, $3)', [
      datasetId,
      data.rowCount,
      `sha256:${datasetId}`,
    ]);
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stopWorkerProcesses(gpuWorkers);
    await client?.close();
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  it('a new worker resumes after epoch > 0, stores the same model bytes as an uninterrupted run, then evaluates and registers it', async () => {
    const input: TrainInput = {
      model: 'fault_mlp',
      datasetId,
      spec,
      trainer: { trainer: 'mlp', hiddenLayers: [64, 64], maxEpochs: 40, patience: 100, batchSize: 64 },
      seed: 3,
      checkpointEveryEpochs: 2,
      heartbeatSeconds: 5,
      queues: { cpu: stack.config.taskQueues.cpu, gpu: stack.config.taskQueues.gpu },
    };
    // The reference: the same training uninterrupted, in this process.
    const straight: TrainModelStepResult = await new MockActivityEnvironment().run(
      createTrainActivities({ artifacts: new LocalArtifactStore(artifactsDir), log: () => undefined }).trainModel,
      { datasetId, spec, trainer: input.trainer, seed: input.seed, checkpointEveryEpochs: 2 },
    );

    const first = await startGpuWorker();
    const handle = await client.start(workflows.train, input, { workflowId: `train-fault-${Date.now()}` });
    // Wait until the server holds a heartbeat with a checkpoint past epoch 0, then kill the worker.
    const beforeKill = await pollUntil(
      'a heartbeat with a checkpoint',
      async () => {
        const progress = await client.activityProgress<TrainingProgress>(handle.workflowId);
        return (progress?.checkpoint?.epoch ?? 0) >= 4 ? progress : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    first.child.kill('SIGKILL');
    await first.exit;
    expect(beforeKill.epoch).toBeLessThan(40);

    await startGpuWorker();
    const result = await handle.result();
    expect(result.resumedFromEpoch).toBeGreaterThan(0);
    expect(result.resumedFromEpoch).toBeGreaterThanOrEqual(beforeKill.checkpoint!.epoch);
    expect(result.epochs).toBe(straight.epochs);
    expect(result.onnxSha256).toBe(straight.onnxSha256);
    // Then evaluated on the snapshot's test rows and registered as version 1 with its card.
    expect(result.version).toBe(1);
    expect(result.metrics).toMatchObject({ task: 'multiclass' });
    const model = await stack.db.pool.query<{ onnx_sha256: string; dataset_id: string; card_sha256: string }>(
      "SELECT onnx_sha256, dataset_id, card_sha256 FROM sluice.models WHERE name = 'fault_mlp' AND version = 1",
    );
    expect(model.rows).toEqual([{ onnx_sha256: straight.onnxSha256, dataset_id: datasetId, card_sha256: result.cardSha256 }]);

    // The run events tell the same story: a failed or abandoned first attempt, a completed second one that resumed.
    const { rows } = await stack.db.pool.query<{ attempt: number; status: string; resumed: string | null }>(
      "SELECT attempt, status, details->>'resumedFromEpoch' AS resumed FROM sluice.run_events WHERE workflow_id = $1 AND step = 'trainModel' ORDER BY id",
      [handle.workflowId],
    );
    expect(rows.at(-1)).toMatchObject({ status: 'completed', resumed: String(result.resumedFromEpoch) });
    expect(rows.at(-1)!.attempt).toBeGreaterThan(1);
  });

  it('a command trainer (PyTorch) resumes from its last stored checkpoint on a new worker, to the same model bytes; its orphaned process is stopped', async () => {
    const python = stack.config.python;
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // CI installs python3-torch (.ci/run); a machine without it cannot run this one test.
      console.warn(
        `SKIPPED: ${python} cannot import torch (${probe.stderr.trim().split('\n').at(-1) ?? probe.error?.message}); install python3-torch`,
      );
      return;
    }
    // Numeric features only: the example script cannot export string inputs.
    const numericSpec: DatasetSpec = { ...spec, features: spec.features.filter((f) => f.kind === 'numeric') };
    const trainer: TrainInput['trainer'] = {
      trainer: 'command',
      command: ['python3', EXAMPLE],
      params: { epochs: 14, checkpointEveryEpochs: 2, epochSleepSeconds: 0.4 },
    };
    const input: TrainInput = {
      model: 'fault_torch',
      datasetId,
      spec: numericSpec,
      trainer,
      seed: 7,
      heartbeatSeconds: 5,
      queues: { cpu: stack.config.taskQueues.cpu, gpu: stack.config.taskQueues.gpu },
    };
    const straight: TrainModelStepResult = await new MockActivityEnvironment().run(
      createTrainActivities({
        artifacts: new LocalArtifactStore(artifactsDir),
        log: () => undefined,
        config: { commandTrainers: true, python, onnxCuda: false },
      }).trainModel,
      { datasetId, spec: numericSpec, trainer, seed: input.seed },
    );
    expect(straight.resumedFromEpoch).toBe(0);

    await stopWorkerProcesses(gpuWorkers); // the first test's surviving worker must not take this run
    const first = await startGpuWorker();
    const handle = await client.start(workflows.train, input, { workflowId: `train-fault-torch-${Date.now()}` });
    const beforeKill = await pollUntil(
      'a heartbeat with a stored checkpoint',
      async () => {
        const progress = await client.activityProgress<CommandProgress>(handle.workflowId);
        return (progress?.checkpoint?.epoch ?? 0) >= 4 ? progress : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    first.child.kill('SIGKILL');
    await first.exit;
    // The trainer runs in a process group of its own: it outlives the worker that was SIGKILLed
    // (until its next progress line fails on the closed pipe, or the retry stops it).
    const orphan = beforeKill.process!.pid;
    expect(isProcessAlive(orphan)).toBe(true);

    await startGpuWorker();
    const result = await handle.result();
    expect(isProcessAlive(orphan)).toBe(false);
    expect(result.resumedFromEpoch).toBeGreaterThanOrEqual(beforeKill.checkpoint!.epoch);
    expect(result.resumedFromEpoch).toBeLessThan(14);
    expect(result.epochs).toBe(14);
    expect(result.onnxSha256).toBe(straight.onnxSha256);
    const { rows } = await stack.db.pool.query<{ attempt: number; status: string; resumed: string | null }>(
      "SELECT attempt, status, details->>'resumedFromEpoch' AS resumed FROM sluice.run_events WHERE workflow_id = $1 AND step = 'trainModel' ORDER BY id",
      [handle.workflowId],
    );
    expect(rows.at(-1)).toMatchObject({ status: 'completed', resumed: String(result.resumedFromEpoch) });
    expect(rows.at(-1)!.attempt).toBeGreaterThan(1);
  }, 240_000);
});
