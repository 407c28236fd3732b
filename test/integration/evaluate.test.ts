import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporal } from '@temporalio/proto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { InferenceSession } from 'onnxruntime-node';
import type { ClassificationMetrics, EvaluateModelResult, RegressionMetrics } from '../../api/models';
import type { EvaluateModelInput } from '../../api/workflows/evaluate';
import { LocalArtifactStore } from '../../activities/artifacts';
import {
  createEvaluateActivities,
  openInferenceSession,
  percentile,
  rocAuc,
  type CreateSession,
  type EvaluateModelActivityResult,
} from '../../activities/evaluate';
import { toFailure } from '../../activities/failures';
import { buildAddModel, exportModelToOnnx } from '../../activities/onnx';
import { readOnnxMetadata } from '../../activities/onnx/metadata';
import { predict, trainModel } from '../../activities/train';
import { loadConfig } from '../../config';
import { arrowTestFile, knownModel, logit } from '../helpers/models';
import { mixedDataset, sliceRows } from '../helpers/trainData';
import { startTestStack, type TestStack } from '../helpers/env';

const FAST_LATENCY = { runs: 20, budgetMs: 300 };
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The failure Temporal would see (the wrapper every registered activity goes through applies toFailure). */
const failureOf = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => Promise.reject(toFailure(err)));

/** Brute-force AUC over all pairs (ties count one half): the definition, to check the rank formula against. */
function pairwiseAuc(scores: number[], positive: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((s, i) => {
    if (!positive[i]) return;
    scores.forEach((t, j) => {
      if (positive[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('evaluateModel', () => {
  let dir: string;
  let store: LocalArtifactStore;
  const logs: string[] = [];
  const deps = (overrides: { onnxCuda?: boolean } = {}) => ({
    artifacts: store,
    config: { ...loadConfig({}), onnxCuda: overrides.onnxCuda ?? false },
    log: (m: string) => void logs.push(m),
    now: () => new Date('2026-12-01T10:00:00Z'),
  });
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'train-churn', runId: 'run-1' } });
  const evaluate = (input: EvaluateModelInput, d = deps(), options: { createSession?: CreateSession } = {}) =>
    env.run(createEvaluateActivities(d, options).evaluateModel, input) as Promise<EvaluateModelActivityResult>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-evaluate-'));
    store = new LocalArtifactStore(dir);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('on six rows with hand-computed metrics (binary, P(pos) = sigmoid(x))', () => {
    // test rows: P(pos) and the actual class; two train rows around them must be ignored
    const p = [0.93, 0.85, 0.75, 0.65, 0.45, 0.25];
    const y = ['pos', 'pos', 'neg', 'pos', 'neg', 'neg'];
    let input: EvaluateModelInput;
    let result: Awaited<ReturnType<typeof evaluate>>;

    beforeAll(async () => {
      const onnx = await store.put(exportModelToOnnx(knownModel('binary')), { mediaType: 'application/onnx', extension: '.onnx' });
      const x = [logit(0.99), ...p.map(logit), logit(0.01)];
      const labels = ['neg', ...y, 'pos']; // train rows, both mispredicted: they would change every metric
      const arrow = await store.put(
        arrowTestFile({ rowCount: 8, columns: { x, y: labels } }, ['train', 'test', 'test', 'test', 'test', 'test', 'test', 'train']),
        { mediaType: 'application/vnd.apache.arrow.file' },
      );
      input = {
        onnxSha256: onnx.sha256,
        testSplit: { arrowSha256: arrow.sha256 },
        task: 'binary',
        classes: ['neg', 'pos'],
        modelName: 'churn',
        lineage: {
          model: 'churn',
          version: 3,
          datasetId: 'd'.repeat(64),
          transform: { name: 'orders_clean', version: 2 },
          logRange: { orders: { fromSeq: '1', toSeq: '900' } },
          contracts: { orders: ['1.0.0'] },
          codeVersion: 'abc123',
          trainer: 'logistic_regression',
          parameters: { l2: 1 },
          seed: 42,
          workflowId: 'train-churn',
          runId: 'run-1',
        },
        latency: FAST_LATENCY,
      };
      result = await evaluate(input);
    });

    it('scores only the test rows and gets accuracy, AUC, log loss, F1 and the confusion matrix right', () => {
      const m = result.metrics as ClassificationMetrics;
      expect(result.testRows).toBe(6);
      expect(m.task).toBe('binary');
      // predicted pos where P(pos) > 0.5: rows 1-4; row 3 is a negative → 5 of 6 right
      expect(m.accuracy).toBeCloseTo(5 / 6, 12);
      // positives 0.93, 0.85, 0.65 vs negatives 0.75, 0.45, 0.25: 8 of 9 pairs ranked right
      expect(m.rocAuc).toBeCloseTo(8 / 9, 12);
      const lnTrue = [0.93, 0.85, 0.25, 0.65, 0.55, 0.75].map(Math.log);
      expect(m.logLoss).toBeCloseTo(-mean(lnTrue), 6); // float32 probabilities: 1e-6
      expect(m.confusion).toEqual([
        [2, 1],
        [0, 3],
      ]);
      expect(m.perClass.map((c) => c.label)).toEqual(['neg', 'pos']);
      const [neg, pos] = m.perClass;
      expect(pos).toMatchObject({ support: 3, precision: 3 / 4, recall: 1 });
      expect(pos?.f1).toBeCloseTo(6 / 7, 12);
      expect(neg).toMatchObject({ support: 3, precision: 1, recall: 2 / 3 });
      expect(neg?.f1).toBeCloseTo(4 / 5, 12);
      expect(m.macroF1).toBeCloseTo(29 / 35, 12);
    });

    it('bins P(pos) in tenths with the observed frequency, and the expected calibration error', () => {
      const { calibration } = result.metrics as ClassificationMetrics;
      expect(calibration.kind).toBe('positive_class');
      expect(calibration.bins).toHaveLength(10);
      expect(calibration.bins.map((b) => b.count)).toEqual([0, 0, 1, 0, 1, 0, 1, 1, 1, 1]);
      expect(calibration.bins.map((b) => b.observed)).toEqual([null, null, 0, null, 0, null, 1, 0, 1, 1]);
      expect(calibration.bins[9]?.meanPredicted).toBeCloseTo(0.93, 6);
      expect(calibration.expectedCalibrationError).toBeCloseTo((0.07 + 0.15 + 0.75 + 0.35 + 0.45 + 0.25) / 6, 6);
    });

    it('measures size and p50/p99 latency at batch 1 and 1024 within the run and time bounds, on the CPU, and says so', () => {
      expect(result.cost.modelBytes).toBe(exportModelToOnnx(knownModel('binary')).length);
      expect(result.cost.latency.map((l) => l.batchSize)).toEqual([1, 1024]);
      for (const l of result.cost.latency) {
        expect(l.runs).toBeGreaterThanOrEqual(1);
        expect(l.runs).toBeLessThanOrEqual(FAST_LATENCY.runs);
        expect(l.p50Ms).toBeGreaterThan(0);
        expect(l.p99Ms).toBeGreaterThanOrEqual(l.p50Ms);
      }
      expect(result.executionProvider).toBe('cpu');
      expect(result.executionProviderNote).toBeUndefined();
      expect(logs.some((l) => l.startsWith('evaluateModel: scoring on CPU'))).toBe(true);
    });

    it('writes the metrics as JSON and a self-contained HTML model card with charts, the confusion matrix and the lineage', async () => {
      const json = JSON.parse((await store.get(result.metricsSha256)).toString()) as {
        metrics: unknown;
        onnxSha256: string;
        testSplit: unknown;
      };
      expect(json.metrics).toEqual(result.metrics);
      expect(json.onnxSha256).toBe(input.onnxSha256);
      expect(json.testSplit).toEqual({
        arrowSha256: input.testSplit.arrowSha256,
        splitColumn: '__split',
        testValues: ['test', 2],
        fileRows: 8,
      });
      expect(result.cardUri).toMatch(/^file:\/\/.*\.html$/);
      const html = (await store.get(result.cardSha256)).toString();
      expect(html).toMatch(/^<!DOCTYPE html>/);
      expect(html).toContain('<title>Model card: churn@3</title>');
      expect(html).not.toMatch(/<script|<link|src="http/); // self-contained
      expect(html).toMatch(/<svg[^>]*id="roc"[\s\S]*<polyline[^>]*points="[^"]+"/);
      expect(html).toMatch(/<svg[^>]*id="calibration"/);
      expect(html).toContain('AUC 0.8889');
      // the confusion matrix: actual neg → 2 predicted neg, 1 predicted pos
      expect(html).toMatch(/<table id="confusion">[\s\S]*<tr><th>neg<\/th><td class="diag"[^>]*>2<\/td><td class=""[^>]*>1<\/td><\/tr>/);
      expect(html).toMatch(/Execution provider: <strong>CPU<\/strong>/);
      for (const text of [
        'd'.repeat(64),
        'orders_clean v2',
        'orders: 1–900',
        'orders@1.0.0',
        'abc123',
        'logistic_regression',
        '{&quot;l2&quot;:1}',
        'train-churn / run-1',
      ])
        expect(html).toContain(text);
    });
  });

  it('computes RMSE, MAE and R² of a regression model (prediction 2x + 1), with the split column and value as parameters', async () => {
    const onnx = await store.put(exportModelToOnnx(knownModel('regression')), { mediaType: 'application/onnx' });
    const arrow = await store.put(
      arrowTestFile({ rowCount: 5, columns: { x: [0, 1, 2, 3, 10], y: [1, 3, 6, 7, 0] } }, [1, 1, 1, 1, 0], { splitColumn: 'fold' }),
      { mediaType: 'application/vnd.apache.arrow.file' },
    );
    const r = await evaluate({
      onnxSha256: onnx.sha256,
      testSplit: { arrowSha256: arrow.sha256, splitColumn: 'fold', testValues: [1] },
      task: 'regression' as const,
      latency: FAST_LATENCY,
    });
    const m = r.metrics as RegressionMetrics;
    // predictions 1, 3, 5, 7 against 1, 3, 6, 7: one error of 1
    expect(m).toEqual({ task: 'regression', rows: 4, rmse: 0.5, mae: 0.25, r2: expect.any(Number) });
    // mean 4.25, SS_tot = 3.25² + 1.25² + 1.75² + 2.75² = 22.75
    expect(m.r2).toBeCloseTo(1 - 1 / 22.75, 12);
    const html = (await store.get(r.cardSha256)).toString();
    expect(html).toMatch(/<table id="regression">[\s\S]*RMSE<\/th><td>0.5<\/td>/);
    expect(html).toContain('No lineage was given');
  });

  it('evaluates a model trained by activities/train on generated data: metrics agree with the trainer and with pairwise AUC', async () => {
    const { data, spec } = mixedDataset(900, 'multiclass');
    const model = trainModel({ data: sliceRows(data, 0, 600), spec, trainer: { trainer: 'logistic_regression' }, seed: 5 });
    const onnx = await store.put(exportModelToOnnx(model), { mediaType: 'application/onnx' });
    const split = Array.from({ length: 900 }, (_, i) => (i < 600 ? 'train' : 'test'));
    const arrow = await store.put(arrowTestFile(data, split, { label: 'label', intLabel: true }), {
      mediaType: 'application/vnd.apache.arrow.file',
    });
    const r = await evaluate({
      onnxSha256: onnx.sha256,
      testSplit: { arrowSha256: arrow.sha256 },
      task: 'multiclass' as const,
      classes: model.classes,
      batchSize: 64, // several batches
      latency: FAST_LATENCY,
    });
    const m = r.metrics as ClassificationMetrics;
    const test = sliceRows(data, 600, 900);
    const mine = predict(model, test);
    if (mine.task === 'regression') throw new Error('expected a classifier');
    const actual = Array.from(test.columns.label as ArrayLike<number>);
    const k = mine.classCount;
    const agree = actual.filter((a, i) => mine.classIndex[i] === a).length / actual.length;
    expect(m.rows).toBe(300);
    expect(m.accuracy).toBeCloseTo(agree, 2);
    expect(m.accuracy).toBeGreaterThan(0.6); // the data has signal
    const perClassAuc = [0, 1, 2].map((c) =>
      pairwiseAuc(
        actual.map((_, i) => mine.probabilities[i * k + c] as number),
        actual.map((a) => a === c),
      ),
    );
    m.perClass.forEach((c, i) => expect(c.rocAuc).toBeCloseTo(perClassAuc[i] as number, 3));
    expect(m.rocAuc).toBeCloseTo(mean(perClassAuc), 3);
    expect(m.confusion.flat().reduce((a, b) => a + b, 0)).toBe(300);
    expect(m.calibration.kind).toBe('top_class');
    expect(m.calibration.bins.reduce((a, b) => a + b.count, 0)).toBe(300);
    // the categorical inputs went in as strings, nulls as '' (3% of rows): the trainer and the graph agree
    expect(readOnnxMetadata(exportModelToOnnx(model)).get('sluice.categorical_features')).toBe('["color","size"]');
  });

  describe('refuses', () => {
    let good: EvaluateModelInput;
    beforeAll(async () => {
      const onnx = await store.put(exportModelToOnnx(knownModel('binary')), { mediaType: 'application/onnx', extension: '.onnx' });
      const arrow = await store.put(arrowTestFile({ rowCount: 2, columns: { x: [1, -1], y: ['pos', 'neg'] } }, ['test', 'test']), {
        mediaType: 'application/vnd.apache.arrow.file',
      });
      good = {
        onnxSha256: onnx.sha256,
        testSplit: { arrowSha256: arrow.sha256 },
        task: 'binary',
        classes: ['neg', 'pos'],
        latency: FAST_LATENCY,
      };
    });
    const run = (input: EvaluateModelInput) => failureOf(evaluate(input));

    it('an ONNX file whose bytes do not match its sha256, before loading it', async () => {
      const model = knownModel('binary');
      model.layers[0]!.weights[0] = 7;
      const tampered = await store.put(exportModelToOnnx(model), { mediaType: 'application/onnx', extension: '.onnx' });
      const file = fileURLToPath(tampered.uri);
      // another model's bytes under this sha256: what a damaged disk or a bad copy would leave
      fs.copyFileSync(fileURLToPath((await store.stat(good.onnxSha256))!.uri), file);
      await expect(run({ ...good, onnxSha256: tampered.sha256 })).rejects.toMatchObject({
        type: 'SLUICE_ARTIFACT_CORRUPT',
        nonRetryable: true,
        message: expect.stringMatching(new RegExp(`ONNX model ${tampered.sha256} in the artifact store has sha256 ${good.onnxSha256}`)),
      });
    });

    it('a file that is not ONNX, or an ONNX model sluice did not export (no feature metadata)', async () => {
      // field 1, length-delimited, 16 bytes announced, 1 present
      const junk = await store.put(Buffer.from([0x0a, 0x10, 0x01]), { mediaType: 'application/onnx' });
      await expect(run({ ...good, onnxSha256: junk.sha256 })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: `ONNX model ${junk.sha256} is not an ONNX file: field runs past the end of the message`,
      });
      const foreign = await store.put(buildAddModel(), { mediaType: 'application/onnx' });
      await expect(run({ ...good, onnxSha256: foreign.sha256 })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/lacks sluice's metadata .*only models exported by sluice's trainers can be evaluated/),
      });
    });

    it('a model or test file that is not in the artifact store', async () => {
      await expect(run({ ...good, onnxSha256: 'a'.repeat(64) })).rejects.toMatchObject({
        type: 'SLUICE_ARTIFACT_NOT_FOUND',
        message: `ONNX model ${'a'.repeat(64)} is not in the artifact store`,
      });
      await expect(run({ ...good, testSplit: { arrowSha256: 'b'.repeat(64) } })).rejects.toMatchObject({
        type: 'SLUICE_ARTIFACT_NOT_FOUND',
        message: expect.stringMatching(/^Arrow test file b{64}/),
      });
    });

    it("a task or class list that is not the model's, a split without test rows, a label the model does not know", async () => {
      await expect(run({ ...good, task: 'multiclass' })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: 'the model is a binary model (its metadata says so), not multiclass',
      });
      await expect(run({ ...good, classes: ['pos', 'neg'] })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/class index order matters/),
      });
      await expect(run({ ...good, testSplit: { ...good.testSplit, testValues: ['holdout'] } })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/has no test rows: no value of column "__split" is one of \["holdout"\] in its 2 rows/),
      });
      await expect(run({ ...good, testSplit: { ...good.testSplit, splitColumn: 'fold' } })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/has no split column "fold" \(it has: x, y, __split\)/),
      });
      const odd = await store.put(arrowTestFile({ rowCount: 2, columns: { x: [1, -1], y: ['pos', 'maybe'] } }, ['test', 'test']), {
        mediaType: 'application/vnd.apache.arrow.file',
      });
      await expect(run({ ...good, testSplit: { arrowSha256: odd.sha256 } })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/label "y" is "maybe" in row 1 .*not one of the model's classes \["neg","pos"\]/),
      });
      const missing = await store.put(arrowTestFile({ rowCount: 2, columns: { x: [1, null], y: ['pos', 'neg'] } }, ['test', 'test']), {
        mediaType: 'application/vnd.apache.arrow.file',
      });
      await expect(run({ ...good, testSplit: { arrowSha256: missing.sha256 } })).rejects.toMatchObject({
        type: 'SLUICE_INVALID_INPUT',
        message: expect.stringMatching(/numeric feature "x" is missing in row 1/),
      });
    });
  });

  describe('execution provider', () => {
    const model = exportModelToOnnx(knownModel('binary'));
    /** A runtime whose CUDA provider never loads, recording what was asked. */
    const cpuOnly =
      (asked: string[][]): CreateSession =>
      async (bytes, options) => {
        const providers = (options.executionProviders ?? []).map(String);
        asked.push(providers);
        if (providers.includes('cuda')) throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
        const { InferenceSession: S } = await import('onnxruntime-node');
        return S.create(bytes, options) as Promise<InferenceSession>;
      };

    it('tries CUDA only when configured for it, and falls back to the CPU with the reason when it does not load', async () => {
      const asked: string[][] = [];
      const off = await openInferenceSession(model, false, cpuOnly(asked));
      expect(off).toMatchObject({ provider: 'cpu' });
      expect(off.note).toBeUndefined();
      await off.session.release();
      const on = await openInferenceSession(model, true, cpuOnly(asked));
      expect(on.provider).toBe('cpu');
      expect(on.note).toMatch(
        /^CUDA was asked for but did not load \(OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\); scoring on the CPU$/,
      );
      await on.session.release();
      expect(asked).toEqual([['cpu'], ['cuda'], ['cpu']]);
    });

    it("a worker configured for CUDA without it (this machine's npm build) scores on the CPU and says so in the result, the card and the log", async () => {
      const onnx = await store.put(model, { mediaType: 'application/onnx' });
      const arrow = await store.put(arrowTestFile({ rowCount: 2, columns: { x: [1, -1], y: ['pos', 'neg'] } }, ['test', 'test']), {
        mediaType: 'application/vnd.apache.arrow.file',
      });
      logs.length = 0;
      const input: EvaluateModelInput = {
        onnxSha256: onnx.sha256,
        testSplit: { arrowSha256: arrow.sha256 },
        task: 'binary',
        latency: FAST_LATENCY,
      };
      const r = await evaluate(input, deps({ onnxCuda: true }), { createSession: cpuOnly([]) });
      expect(r.executionProvider).toBe('cpu');
      expect(r.executionProviderNote).toMatch(/CUDA was asked for but did not load/);
      expect(logs).toEqual([expect.stringMatching(/^evaluateModel: scoring on CPU \(CUDA was asked for but did not load/)]);
      expect((await store.get(r.cardSha256)).toString()).toMatch(
        /Execution provider: <strong>CPU<\/strong> <span class="muted">\(CUDA was asked for but did not load/,
      );
      // and with the real onnxruntime-node: CUDA loads (a GPU build on a GPU host) or the same fallback happens
      const real = await evaluate(input, deps({ onnxCuda: true }));
      if (real.executionProvider === 'cpu') expect(real.executionProviderNote).toMatch(/^CUDA was asked for but did not load/);
      expect(real.metrics).toEqual(r.metrics);
    });
  });

  it('rank AUC: tied scores count one half; percentiles are nearest-rank', () => {
    expect(rocAuc([0.5, 0.5, 0.2], [true, false, false])).toBe(0.75);
    expect(rocAuc([0.1, 0.2], [true, true])).toBeNull();
    const scores = [0.3, 0.3, 0.7, 0.1, 0.7, 0.9, 0.5];
    const pos = [true, false, true, false, false, true, false];
    expect(rocAuc(scores, pos)).toBeCloseTo(pairwiseAuc(scores, pos), 15);
    expect(percentile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(
      percentile(
        Array.from({ length: 200 }, (_, i) => i + 1),
        0.99,
      ),
    ).toBe(198);
  });
});

describe('the evaluate workflow on a real worker', () => {
  let stack: TestStack;
  let artifactsDir: string;
  let store: LocalArtifactStore;
  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-artifacts-'));
    store = new LocalArtifactStore(artifactsDir);
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir } });
  });
  afterAll(async () => {
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });
  const execute = (input: EvaluateModelInput, workflowId: string) =>
    stack.client.workflow.execute('evaluate', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId,
      args: [input],
    }) as Promise<EvaluateModelResult>;

  it('scores the test split, links the card from the memo and the run event, and fails fast on a bad input or a missing model', async () => {
    const onnx = await store.put(exportModelToOnnx(knownModel('binary')), { mediaType: 'application/onnx', extension: '.onnx' });
    const p = [0.93, 0.85, 0.75, 0.65, 0.45, 0.25];
    const arrow = await store.put(
      arrowTestFile({ rowCount: 6, columns: { x: p.map(logit), y: ['pos', 'pos', 'neg', 'pos', 'neg', 'neg'] } }, [
        'test',
        'test',
        'test',
        'test',
        'test',
        'test',
      ]),
      { mediaType: 'application/vnd.apache.arrow.file' },
    );
    const workflowId = `evaluate-${Date.now()}`;
    const input: EvaluateModelInput = {
      onnxSha256: onnx.sha256,
      testSplit: { arrowSha256: arrow.sha256 },
      task: 'binary',
      latency: FAST_LATENCY,
    };
    const result = await execute(input, workflowId);
    // SLUICE_RECORD_HISTORIES=1 refreshes test/histories/evaluate.json (the replay test's input) from this run
    if (process.env.SLUICE_RECORD_HISTORIES === '1') {
      const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
      const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
        longs: String,
        enums: String,
        bytes: String,
      });
      fs.writeFileSync(path.resolve(__dirname, '../histories/evaluate.json'), `${JSON.stringify(json, null, 2)}\n`);
    }
    expect(result).not.toHaveProperty('runEventDetails');
    expect(result.metrics).toMatchObject({ task: 'binary', rows: 6 });
    expect((result.metrics as ClassificationMetrics).rocAuc).toBeCloseTo(8 / 9, 12);
    expect(result.executionProvider).toBe('cpu');
    expect(fileURLToPath(result.cardUri).startsWith(artifactsDir)).toBe(true);
    const memo = (await stack.client.workflow.getHandle(workflowId).describe()).memo as { card?: { sha256: string } };
    expect(memo.card?.sha256).toBe(result.cardSha256);
    const { rows } = await stack.db.pool.query(
      "SELECT details FROM sluice.run_events WHERE workflow_id = $1 AND step = 'evaluateModel' AND status = 'completed'",
      [workflowId],
    );
    expect(rows[0]?.details).toMatchObject({ onnxSha256: onnx.sha256, executionProvider: 'cpu', card: { sha256: result.cardSha256 } });

    await expect(execute({ ...input, task: 'ranking' } as unknown as EvaluateModelInput, `${workflowId}-bad`)).rejects.toMatchObject({
      cause: {
        cause: { type: 'SLUICE_INVALID_INPUT', nonRetryable: true, message: expect.stringMatching(/Invalid input for workflow evaluate/) },
      },
    });
    await expect(execute({ ...input, onnxSha256: 'a'.repeat(64) }, `${workflowId}-missing`)).rejects.toMatchObject({
      cause: { cause: { type: 'SLUICE_ARTIFACT_NOT_FOUND', nonRetryable: true } },
    });
  });
});
