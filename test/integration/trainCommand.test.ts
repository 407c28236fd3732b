// Bring your own trainer: the `train` workflow with a `command` trainer, through the real GPU-queue
// worker. The example PyTorch script trains, its model is checked, evaluated and registered; a
// trainer that fails (exits non-zero, prints only garbage, hangs, writes a model with the wrong
// inputs) ends in a typed, non-retryable error with a run event saying why, and nothing registered.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import { buildAddModel, exportModelToOnnx, readOnnxMetadata } from '../../activities/onnx';
import { trainModel, type DatasetSpec } from '../../activities/train';
import { workflows, type TrainInput } from '../../api';
import { SluiceClient } from '../../client';
import { mixedDataset } from '../helpers/trainData';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const EXAMPLE = path.resolve(__dirname, '../../examples/trainers/torch_logistic.py');

describe('train with a command trainer', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let artifactsDir: string;
  let scripts: string;
  let datasetId: string;
  const mixed = mixedDataset(600, 'binary');
  // Numeric features only: the example script cannot export string inputs.
  const spec: DatasetSpec = { ...mixed.spec, features: mixed.spec.features.filter((f) => f.kind === 'numeric') };

  /** An executable shell script in the scripts folder. */
  const script = (name: string, body: string): string => {
    const file = path.join(scripts, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-train-command-'));
    scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-trainers-'));
    const { data } = mixed;
    const parts = Array.from({ length: data.rowCount }, (_, i) => (i % 10 < 7 ? 0 : i % 10 < 8 ? 1 : 2));
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
    // Two GPUs (slots 0 and 1) and ONNX Runtime asked for CUDA, on a machine without either.
    stack = await startTestStack({ config: { artifactsDir, commandTrainers: true, onnxCuda: true, gpuCount: 2 } });
    await stack.db.pool.query('INSERT INTO sluice.datasets (id, row_count, artifact_uri) VALUES ($1, $2, $3)', [
      datasetId,
      data.rowCount,
      `sha256:${datasetId}`,
    ]);
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await client?.close();
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
    fs.rmSync(scripts, { recursive: true, force: true });
  });

  const input = (model: string, trainer: TrainInput['trainer']): TrainInput => ({
    model,
    datasetId,
    spec,
    trainer,
    seed: 5,
    queues: { cpu: stack.config.taskQueues.cpu, gpu: stack.config.taskQueues.gpu },
  });
  let runs = 0;
  const runTrain = async (i: TrainInput) => {
    const handle = await client.start(workflows.train, i, { workflowId: `train-command-${i.model}-${++runs}` });
    return { handle, result: handle.result() };
  };
  const runEvents = async (workflowId: string) =>
    (
      await stack.db.pool.query<{
        step: string;
        attempt: number;
        status: string;
        error: { type: string; message: string; internal?: string } | null;
        details: Record<string, unknown>;
      }>('SELECT step, attempt, status, error, details FROM sluice.run_events WHERE workflow_id = $1 ORDER BY id', [workflowId])
    ).rows;
  /** The workflow fails with `type`, non-retryable, after one attempt; the run event says why; no model is registered. */
  const expectRefused = async (i: TrainInput, type: string, message: RegExp) => {
    const { handle, result } = await runTrain(i);
    const err: unknown = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = (err as WorkflowFailedError).cause?.cause;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type, nonRetryable: true, message: expect.stringMatching(message) });
    const events = await runEvents(handle.workflowId);
    const train = events.filter((e) => e.step === 'trainModel');
    expect(train.map((e) => [e.attempt, e.status])).toEqual([
      [1, 'started'],
      [1, 'failed'],
    ]);
    expect(train[1]?.error).toMatchObject({ type, message: expect.stringMatching(message) });
    expect(events.some((e) => e.step === 'registerModel')).toBe(false);
    const models = await stack.db.pool.query('SELECT 1 FROM sluice.models WHERE name = $1', [i.model]);
    expect(models.rowCount).toBe(0);
    return train[1]!;
  };

  it('runs the example PyTorch trainer on the GPU queue, checks, evaluates and registers its model; CUDA fallback is recorded', async () => {
    const probe = spawnSync(stack.config.python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // CI installs python3-torch (.ci/run); a machine without it cannot run this one test.
      console.warn(
        `SKIPPED: ${stack.config.python} cannot import torch (${probe.stderr.trim().split('\n').at(-1) ?? probe.error?.message}); install python3-torch`,
      );
      return;
    }
    const trainer: TrainInput['trainer'] = { trainer: 'command', command: ['python3', EXAMPLE], params: { epochs: 15 } };
    const { handle, result } = await runTrain(input('torch_logistic', trainer));
    const r = await result;
    expect(r).toMatchObject({ version: 1, epochs: 15, device: 'cpu', validationMetricName: 'accuracy' });
    expect(r.metrics).toMatchObject({ task: 'binary' });
    expect((r.metrics as { accuracy: number }).accuracy).toBeGreaterThan(0.7);
    // sluice stamped its metadata on the accepted file
    const onnx = await new LocalArtifactStore(artifactsDir).get(r.onnxSha256);
    const meta = readOnnxMetadata(onnx);
    expect(meta.get('sluice.trainer')).toBe('command');
    expect(meta.get('sluice.numeric_features')).toBe('["age","income","score"]');
    expect(meta.get('sluice.classes')).toBe('["no","yes"]');
    const model = await stack.db.pool.query<{ onnx_sha256: string; trainer: string }>(
      "SELECT onnx_sha256, trainer FROM sluice.models WHERE name = 'torch_logistic' AND version = 1",
    );
    expect(model.rows).toEqual([{ onnx_sha256: r.onnxSha256, trainer: 'command' }]);
    // Progress lines became heartbeats and the run event; the model check and the evaluation asked
    // for CUDA (onnxCuda) and fell back to the CPU, and their run events say so.
    const events = await runEvents(handle.workflowId);
    const trained = events.find((e) => e.step === 'trainModel' && e.status === 'completed');
    expect(trained?.details).toMatchObject({
      trainer: 'command',
      progressLines: 15,
      lastProgress: { epoch: 15, validationMetricName: 'accuracy', device: 'cpu' },
      executionProvider: 'cpu',
      executionProviderNote: expect.stringMatching(/^CUDA was asked for but did not load/),
    });
    expect([0, 1]).toContain(trained?.details.deviceIndex);
    const evaluated = events.find((e) => e.step === 'evaluateModel' && e.status === 'completed');
    expect(evaluated?.details).toMatchObject({
      executionProvider: 'cpu',
      executionProviderNote: expect.stringMatching(/^CUDA was asked for but did not load/),
    });
    // Seeded and deterministic on the CPU: the same input gives the same model bytes.
    const again = await (await runTrain(input('torch_logistic', trainer))).result;
    expect(again).toMatchObject({ version: 2, onnxSha256: r.onnxSha256 });
  }, 240_000);

  it('tells the trainer its device (CUDA_VISIBLE_DEVICES and the manifest), logs garbage lines without failing, and registers a valid model', async () => {
    // A model with the right inputs and outputs, trained by sluice itself, for the script to "write".
    const valid = path.join(scripts, 'valid.onnx');
    fs.writeFileSync(
      valid,
      exportModelToOnnx(trainModel({ data: mixed.data, spec, trainer: { trainer: 'logistic_regression' }, seed: 1 })),
    );
    const seen = path.join(scripts, 'seen.txt');
    const trainer = script(
      'noisy.sh',
      [
        'echo "loading data..."',
        'echo "{not json"',
        'echo \'{"epoch":1,"loss":0.5,"valMetric":0.75}\'',
        `node -e 'const m=require(process.env.SLUICE_MANIFEST);console.log(JSON.stringify({cuda:process.env.CUDA_VISIBLE_DEVICES,index:process.env.SLUICE_DEVICE_INDEX,manifest:m.device,seed:m.seed,params:m.params,rows:m.splits.train.rows,numeric:m.numericFeatures,classes:m.classes}))' > ${seen}`,
        `cp ${valid} "$SLUICE_OUTPUT"`,
      ].join('\n'),
    );
    const { handle, result } = await runTrain(input('noisy', { trainer: 'command', command: [trainer], params: { depth: 3 } }));
    const r = await result;
    expect(r).toMatchObject({ version: 1, epochs: 1, finalLoss: 0.5, validationMetric: 0.75 });
    const told = JSON.parse(fs.readFileSync(seen, 'utf8')) as {
      cuda: string;
      index: string;
      manifest: { index: number; cudaVisibleDevices: string };
    };
    expect(['0', '1']).toContain(told.cuda);
    expect(told).toEqual({
      cuda: told.index,
      index: told.index,
      manifest: { index: Number(told.index), cudaVisibleDevices: told.index },
      seed: 5,
      params: { depth: 3 },
      rows: 420,
      numeric: ['age', 'income', 'score'],
      classes: ['no', 'yes'],
    });
    const trained = (await runEvents(handle.workflowId)).find((e) => e.step === 'trainModel' && e.status === 'completed');
    expect(trained?.details).toMatchObject({
      progressLines: 1,
      otherLines: 2,
      deviceIndex: Number(told.index),
      device: `gpu:${told.index}`,
    });
  }, 60_000);

  it("the GPU worker's runtime probe, configured for CUDA without it, runs on the CPU and says so in its result and run event", async () => {
    const workflowId = `health-cuda-${Date.now()}`;
    const result = await client.execute(workflows.healthCheck, { queues: stack.config.taskQueues }, { workflowId });
    expect(result.gpu).toMatchObject({
      inferenceOk: true,
      executionProvider: 'cpu',
      executionProviderNote: expect.stringMatching(/^CUDA was asked for but did not load/),
    });
    expect(result.gpu).not.toHaveProperty('runEventDetails');
    const probes = (await runEvents(workflowId)).filter((e) => e.step === 'probeRuntime' && e.status === 'completed');
    expect(probes.map((e) => e.details)).toEqual([
      { executionProvider: 'cpu', executionProviderNote: expect.stringMatching(/^CUDA was asked for but did not load/) },
      { executionProvider: 'cpu', executionProviderNote: expect.stringMatching(/^CUDA was asked for but did not load/) },
    ]);
  }, 60_000);

  it('a trainer that exits non-zero fails with SLUICE_TRAINER_FAILED and its last stderr line', async () => {
    const trainer = script('crash.sh', 'echo \'{"epoch":1,"loss":0.9}\'\necho "RuntimeError: CUDA out of memory (pretend)" >&2\nexit 3');
    const event = await expectRefused(
      input('crash', { trainer: 'command', command: [trainer] }),
      'SLUICE_TRAINER_FAILED',
      /exited with code 3; its last stderr line: RuntimeError: CUDA out of memory \(pretend\)/,
    );
    expect(event.error?.internal).toMatch(/CUDA out of memory/);
  }, 60_000);

  it('a trainer that prints only garbage and writes no model fails with SLUICE_TRAINER_FAILED', async () => {
    const trainer = script('garbage.sh', 'echo "hello"\necho "[1,2,3]"\nprintf "\\001\\002 binary"');
    await expectRefused(
      input('garbage', { trainer: 'command', command: [trainer] }),
      'SLUICE_TRAINER_FAILED',
      /exited 0 but wrote no model at .*model\.onnx/,
    );
  }, 60_000);

  it('a trainer that hangs is killed with its whole process group at its timeout: no process left', async () => {
    const pids = fs.mkdtempSync(path.join(scripts, 'pids-'));
    const trainer = script('hang.sh', `echo $$ > ${pids}/main\nsleep 300 &\necho $! > ${pids}/child\nwait`);
    const started = Date.now();
    await expectRefused(
      input('hang', { trainer: 'command', command: [trainer], timeoutSeconds: 2 }),
      'SLUICE_TRAINER_FAILED',
      /did not finish within 2 s \(timeoutSeconds\); its process group \(pid \d+\) was killed/,
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    for (const name of ['main', 'child']) {
      const pid = Number(fs.readFileSync(path.join(pids, name), 'utf8'));
      expect(pid).toBeGreaterThan(1);
      await expectGone(pid);
    }
  }, 60_000);

  it('cancelling the workflow kills the running trainer with its whole process group', async () => {
    const pids = fs.mkdtempSync(path.join(scripts, 'pids-'));
    const trainer = script('forever.sh', `sleep 300 &\necho $! > ${pids}/child\necho $$ > ${pids}/main\nwait`);
    const { handle, result } = await runTrain(input('cancelled', { trainer: 'command', command: [trainer], timeoutSeconds: 600 }));
    const mainPid = path.join(pids, 'main');
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(mainPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await handle.cancel();
    const err: unknown = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    for (const name of ['main', 'child']) await expectGone(Number(fs.readFileSync(path.join(pids, name), 'utf8')));
    const models = await stack.db.pool.query("SELECT 1 FROM sluice.models WHERE name = 'cancelled'");
    expect(models.rowCount).toBe(0);
  }, 60_000);

  it('a model with the wrong input names is refused with SLUICE_TRAINER_OUTPUT_INVALID and never stored', async () => {
    const wrong = path.join(scripts, 'wrong.onnx');
    const bytes = buildAddModel();
    fs.writeFileSync(wrong, bytes);
    const trainer = script('wrong.sh', `cp ${wrong} "$SLUICE_OUTPUT"`);
    const before = fs.readdirSync(artifactsDir, { recursive: true }).length;
    await expectRefused(
      input('wrong_inputs', { trainer: 'command', command: [trainer] }),
      'SLUICE_TRAINER_OUTPUT_INVALID',
      /the command trainer's model is refused: its inputs are \["a","b"\], but the dataset spec needs \["numeric"\]; missing \["numeric"\]; unexpected \["a","b"\]/,
    );
    expect(fs.readdirSync(artifactsDir, { recursive: true }).length).toBe(before);
  }, 60_000);
});

/** Waits until `pid` is no process (or only a zombie waiting for its parent to reap it). */
async function expectGone(pid: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 5_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect({ pid, alive: alive() }).toEqual({ pid, alive: false });
}
