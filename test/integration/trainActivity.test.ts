// The train step's activity on a snapshot in the artifact store: trains on the training rows,
// validates on the validation rows, heartbeats each epoch, checkpoints, and a retry resumes from
// the last checkpoint to the same model bytes as an uninterrupted run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import {
  createTrainActivities,
  type TrainingProgress,
  type TrainModelStepInput,
  type TrainModelStepResult,
} from '../../activities/train/activities';
import { mixedDataset } from '../helpers/trainData';

describe('trainModel activity', () => {
  let dir: string;
  let store: LocalArtifactStore;
  let datasetId: string;
  const { data, spec } = mixedDataset(400, 'multiclass');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-train-'));
    store = new LocalArtifactStore(dir);
    const parts = Array.from({ length: data.rowCount }, (_, i) => (i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2));
    const columns: Record<string, unknown> = { __split: Int8Array.from(parts) };
    for (const [name, values] of Object.entries(data.columns))
      columns[name] = values instanceof Float64Array ? values : Array.from(values as ArrayLike<unknown>);
    const table = tableFromArrays(columns as Parameters<typeof tableFromArrays>[0]);
    datasetId = (await store.put(tableToIPC(table, 'file'), { mediaType: 'application/vnd.apache.arrow.file', extension: '.arrow' }))
      .sha256;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const input = (): TrainModelStepInput => ({
    datasetId,
    spec,
    trainer: { trainer: 'mlp', hiddenLayers: [16], maxEpochs: 12, patience: 50 },
    seed: 11,
    checkpointEveryEpochs: 3,
  });
  const activities = () => createTrainActivities({ artifacts: store, log: () => undefined });

  it('trains on the snapshot split, heartbeats each epoch with checkpoints, and gives the same model bytes twice', async () => {
    const env = new MockActivityEnvironment();
    const beats: TrainingProgress[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d as TrainingProgress));
    const first: TrainModelStepResult = await env.run(activities().trainModel, input());
    expect(first).toMatchObject({ epochs: 12, resumedFromEpoch: 0, trainRows: 280, validationRows: 80, validationMetricName: 'accuracy' });
    // epoch 0: the heartbeats while it reads and prepares the snapshot
    expect(beats.map((b) => b.epoch).filter((e, i, a) => a.indexOf(e) === i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(beats.at(-1)?.maxEpochs).toBe(12);
    expect(beats.find((b) => b.epoch === 7)?.checkpoint?.epoch).toBe(6);
    const again: TrainModelStepResult = await new MockActivityEnvironment().run(activities().trainModel, input());
    expect(again.onnxSha256).toBe(first.onnxSha256);
    expect((await store.get(first.onnxSha256)).length).toBe(first.onnxBytes);
  });

  it('a retry resumes from the checkpoint in the last heartbeat and ends with the same bytes', async () => {
    const straight: TrainModelStepResult = await new MockActivityEnvironment().run(activities().trainModel, input());
    // What the worker that died had reported: epoch 7, its latest checkpoint at epoch 6.
    const env = new MockActivityEnvironment();
    const beats: TrainingProgress[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d as TrainingProgress));
    await env.run(activities().trainModel, input());
    const lastBeforeCrash = beats.find((b) => b.epoch === 7);
    expect(lastBeforeCrash?.checkpoint).toBeDefined();
    const retried: TrainModelStepResult = await new MockActivityEnvironment({ heartbeatDetails: lastBeforeCrash, attempt: 2 }).run(
      activities().trainModel,
      input(),
    );
    expect(retried.resumedFromEpoch).toBe(6);
    expect(retried.onnxSha256).toBe(straight.onnxSha256);
  });

  it('checkpoints by time inside epochs (checkpointEverySeconds), and a retry from such a checkpoint ends with the same bytes', async () => {
    // A clock that moves 30 ms each time it is read: with a 200 ms heartbeat timeout the activity
    // reports every 50 ms, i.e. every other batch, and checkpoints once a second has passed.
    const steppedClock = (): (() => Date) => {
      let t = Date.parse('2026-01-01T00:00:00Z');
      return () => new Date((t += 30));
    };
    const timed = (): TrainModelStepInput => ({
      ...input(),
      trainer: { trainer: 'mlp', hiddenLayers: [16], maxEpochs: 6, patience: 50, batchSize: 20 },
      checkpointEveryEpochs: 0,
      checkpointEverySeconds: 1,
    });
    const run = (env: MockActivityEnvironment): Promise<TrainModelStepResult> =>
      env.run(createTrainActivities({ artifacts: store, log: () => undefined, now: steppedClock() }).trainModel, timed());
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 200 });
    const beats: TrainingProgress[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d as TrainingProgress));
    const straight = await run(env);
    expect(beats.filter((b) => b.epochRows !== undefined).length).toBeGreaterThan(10); // progress inside epochs
    const midEpoch = beats.filter((b) => (b.checkpoint?.epochRowsDone ?? 0) > 0);
    expect(midEpoch.length).toBeGreaterThan(0);
    const crashedAt = midEpoch[Math.floor(midEpoch.length / 2)] as TrainingProgress;
    const retried = await run(new MockActivityEnvironment({ heartbeatTimeoutMs: 200, heartbeatDetails: crashedAt, attempt: 2 }));
    expect(retried.resumedFromEpoch).toBe(crashedAt.checkpoint?.epoch);
    expect(retried.onnxSha256).toBe(straight.onnxSha256);
    // and the same bytes as a run that never paused inside an epoch
    const plain: TrainModelStepResult = await new MockActivityEnvironment().run(activities().trainModel, {
      ...timed(),
      checkpointEverySeconds: 0,
    });
    expect(plain.onnxSha256).toBe(straight.onnxSha256);
  });

  it('refuses a dataset that is not in the artifact store or whose bytes changed, and data that cannot train a model', async () => {
    const env = new MockActivityEnvironment();
    await expect(env.run(activities().trainModel, { ...input(), datasetId: 'f'.repeat(64) })).rejects.toMatchObject({
      code: 'SLUICE_DATASET_NOT_FOUND',
      message: `dataset ${'f'.repeat(64)} is not in the artifact store`,
    });
    // The same bytes under another digest: what a damaged or replaced file looks like to the store.
    const moved = 'e'.repeat(64);
    fs.mkdirSync(path.join(dir, 'sha256', 'ee'), { recursive: true });
    fs.copyFileSync(
      path.join(dir, 'sha256', datasetId.slice(0, 2), `${datasetId}.arrow`),
      path.join(dir, 'sha256', 'ee', `${moved}.arrow`),
    );
    await expect(env.run(activities().trainModel, { ...input(), datasetId: moved })).rejects.toMatchObject({
      code: 'SLUICE_ARTIFACT_CORRUPT',
      message: expect.stringMatching(/^dataset e+ in the artifact store has sha256 [0-9a-f]{64}: the file was changed or damaged/),
    });
    await expect(env.run(activities().trainModel, { ...input(), spec: { ...spec, label: 'nope' } })).rejects.toThrow(/label column "nope"/);
    // A worker whose operator did not enable command trainers runs none, whatever the input says.
    await expect(
      env.run(activities().trainModel, {
        ...input(),
        trainer: { trainer: 'command' as const, command: ['/bin/sh', '-c', 'touch /tmp/never'] },
      }),
    ).rejects.toMatchObject({ code: 'SLUICE_INVALID_INPUT', message: expect.stringMatching(/SLUICE_COMMAND_TRAINERS=true/) });
  });
});
