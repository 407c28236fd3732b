/**
 * Training and scoring benchmark (`npm run bench -- ml [--scale 0.1]`, or without the local stack:
 * `npx tsx scripts/bench/ml.ts [--scale 0.1]`), side by side with scikit-learn on the same rows:
 *  - a make_classification-like dataset (activities/train/synthetic.ts): 100,000 × scale rows,
 *    30 features (15 informative, 2 redundant), 2 classes, seed 0; the first 80% train, the rest
 *    test (rows are shuffled by the generator). scikit-learn reads the very same float64 values
 *    from raw little-endian files (numpy.fromfile), exact where a CSV would round.
 *  - train_accuracy_vs_sklearn: test accuracy of sluice's logistic regression (defaults: L-BFGS,
 *    l2 = 1 i.e. C = 1, standardisation included) − LogisticRegression(max_iter=1000)'s.
 *    train_time_vs_sklearn: sluice's fit time (preprocessing included) ÷ scikit-learn's fit time,
 *    medians of six fits each, in two rounds of three sluice fits then three scikit-learn fits.
 *  - mlp_accuracy_vs_sklearn: sluice's MLP 30-64-64 (Adam, lr 1e-3, batch 200, l2 1e-4, at most 50
 *    epochs, stopping on the training loss with patience 10 as scikit-learn does without
 *    early_stopping) − MLPClassifier((64, 64), max_iter=50, random_state=0)'s; fit times in metrics.
 *  - ort_rows_per_s_10k: onnxruntime-node (CPU, 2 intra-op threads) scoring the exported logistic
 *    regression (raw features in, standardisation in the graph) at batch 10,000; ort_batch_speedup:
 *    rows/s at batch 1,024 ÷ rows/s at batch 1 (one call at a time). Tensors built once.
 * Without a python3 that imports sklearn (Debian: apt-get install python3-sklearn) the sklearn
 * figures and the ratios that need them are left out and `notes.sklearn` says why.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { exportModelToOnnx, NUMERIC_INPUT } from '../../activities/onnx';
import {
  makeClassification,
  predict,
  trainModel,
  type DatasetSpec,
  type TabularData,
  type TrainedModel,
  type TrainerParams,
} from '../../activities/train';
import { formatTable, writeResult, type BenchResult, type BenchSuite } from './harness';

const FEATURES = 30;
const SPEC: DatasetSpec = {
  features: Array.from({ length: FEATURES }, (_, j) => ({ name: `f${j}`, kind: 'numeric' as const })),
  label: 'label',
  task: 'binary',
};
const LR: TrainerParams = { trainer: 'logistic_regression' };
const MLP: TrainerParams = {
  trainer: 'mlp',
  hiddenLayers: [64, 64],
  learningRate: 1e-3,
  batchSize: 200,
  l2: 1e-4,
  maxEpochs: 50,
  patience: 10,
  minDelta: 1e-4,
  validationFraction: 0,
};

/** argv: directory, rows, training rows, "lr" (three fits) or "mlp" (one); prints one JSON line. */
const SKLEARN_SCRIPT = `
import json, sys, time
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
d, n, n_train, what = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X = np.fromfile(d + '/x.f64', dtype='<f8').reshape(n, ${FEATURES})
y = np.fromfile(d + '/y.i32', dtype='<i4')
Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
out = {"version": sklearn.__version__}
if what == 'lr':
    out["fit_s"] = []
    for _ in range(3):
        t = time.perf_counter(); m = LogisticRegression(max_iter=1000).fit(Xtr, ytr); out["fit_s"].append(time.perf_counter() - t)
    out["accuracy"] = float(m.score(Xte, yte)); out["iterations"] = int(m.n_iter_[0])
else:
    t = time.perf_counter(); m = MLPClassifier((64, 64), max_iter=50, random_state=0).fit(Xtr, ytr); out["fit_s"] = [time.perf_counter() - t]
    out["accuracy"] = float(m.score(Xte, yte)); out["iterations"] = int(m.n_iter_)
print(json.dumps(out))
`;

interface SklearnFigures {
  version: string;
  fit_s: number[];
  accuracy: number;
  iterations: number;
}

function findSklearnPython(): string | undefined {
  for (const exe of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(exe, ['-c', 'import sklearn, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return exe;
  }
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

function testAccuracy(model: TrainedModel, test: TabularData): number {
  const p = predict(model, test);
  if (p.task === 'regression') throw new Error('expected a classifier');
  const y = test.columns.label as Int32Array;
  let hits = 0;
  for (let i = 0; i < test.rowCount; i++) if (p.classIndex[i] === y[i]) hits++;
  return hits / test.rowCount;
}

/** rows/s of `session` at `batch`, one call at a time, after warm-up; at least `minSeconds` of timed calls. */
async function scoringRate(
  session: InferenceSession,
  x: Float32Array,
  batch: number,
  minSeconds: number,
): Promise<{ rowsPerS: number; p50Ms: number }> {
  const feeds = { [NUMERIC_INPUT]: new Tensor('float32', x.subarray(0, batch * FEATURES), [batch, FEATURES]) };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times: number[] = [];
  const t0 = process.hrtime.bigint();
  while (seconds(t0) < minSeconds || times.length < 20) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    times.push(seconds(t));
  }
  const total = times.reduce((a, b) => a + b, 0);
  return { rowsPerS: (batch * times.length) / total, p50Ms: median(times) * 1000 };
}

export async function benchMl(opts: { scale: number; log: (m: string) => void }): Promise<Omit<BenchResult, 'suite'>> {
  const { log } = opts;
  const rows = Math.max(1000, Math.round(100_000 * opts.scale));
  const nTrain = Math.round(rows * 0.8);
  const generated = makeClassification({ rows, features: FEATURES, informative: 15, redundant: 2, seed: 0 });
  const table = (from: number, to: number): TabularData => {
    const columns: Record<string, Float64Array | Int32Array> = { label: generated.y.slice(from, to) };
    for (let j = 0; j < FEATURES; j++) {
      const c = new Float64Array(to - from);
      for (let i = from; i < to; i++) c[i - from] = generated.x[i * FEATURES + j] as number;
      columns[`f${j}`] = c;
    }
    return { rowCount: to - from, columns };
  };
  const train = table(0, nTrain);
  const test = table(nTrain, rows);
  const metrics: BenchResult['metrics'] = {};
  const ratios: BenchResult['ratios'] = {};
  const notes: Record<string, unknown> = {
    rows,
    trainRows: nTrain,
    testRows: rows - nTrain,
    features: FEATURES,
    cpus: os.cpus().length,
    node: process.version,
    loadAverageAtStart: os.loadavg(),
  };

  const python = findSklearnPython();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-ml-'));
  const sklearn = (what: 'lr' | 'mlp'): SklearnFigures | undefined => {
    if (!python) return undefined;
    const r = spawnSync(python, ['-c', SKLEARN_SCRIPT, dir, String(rows), String(nTrain), what], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`scikit-learn run failed (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as SklearnFigures;
  };
  if (python) {
    fs.writeFileSync(path.join(dir, 'x.f64'), new Uint8Array(generated.x.buffer, generated.x.byteOffset, generated.x.byteLength));
    fs.writeFileSync(path.join(dir, 'y.i32'), new Uint8Array(generated.y.buffer, generated.y.byteOffset, generated.y.byteLength));
    notes.sklearn = `scikit-learn via ${python}`;
  } else {
    notes.sklearn = 'not measured: no python3 imports sklearn and numpy (Debian: apt-get install python3-sklearn)';
  }

  try {
    // logistic regression: two rounds of three sluice fits then three scikit-learn fits, so that
    // both see the same machine (it is shared and noisy); medians of the six
    log(`logistic regression on ${nTrain.toLocaleString('en-US')} × ${FEATURES}${python ? ', alternating with scikit-learn' : ''}`);
    const lrTimes: number[] = [];
    const skLrTimes: number[] = [];
    let lr: TrainedModel | undefined;
    let lrEpochs = 0;
    let skLr: SklearnFigures | undefined;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint();
        lr = trainModel({ data: train, spec: SPEC, trainer: LR, seed: 0 }, { onEpoch: (r) => (lrEpochs = r.epoch) });
        lrTimes.push(seconds(t));
      }
      skLr = sklearn('lr');
      skLrTimes.push(...(skLr?.fit_s ?? []));
    }
    if (!lr) throw new Error('no model');
    const lrAccuracy = testAccuracy(lr, test);
    metrics.sluice_lr_fit_s = { value: median(lrTimes), unit: 's' };
    metrics.sluice_lr_accuracy = { value: lrAccuracy, unit: 'fraction' };
    metrics.sluice_lr_epochs = { value: lrEpochs, unit: 'L-BFGS iterations' };
    notes.lrFitSeconds = { sluice: lrTimes, sklearn: skLrTimes };
    if (skLr) {
      metrics.sklearn_lr_fit_s = { value: median(skLrTimes), unit: 's' };
      metrics.sklearn_lr_accuracy = { value: skLr.accuracy, unit: 'fraction' };
      metrics.sklearn_lr_iterations = { value: skLr.iterations, unit: 'L-BFGS iterations' };
      notes.sklearn = `scikit-learn ${skLr.version} via ${python}`;
      // differences, not quotients: the goals are "≥ −0.005"
      ratios.train_accuracy_vs_sklearn = lrAccuracy - skLr.accuracy;
      ratios.train_time_vs_sklearn = median(lrTimes) / median(skLrTimes);
    }

    log('MLP 30-64-64 (at most 50 epochs)');
    const mlpStart = process.hrtime.bigint();
    let mlpEpochs = 0;
    const mlp = trainModel(
      { data: train, spec: SPEC, trainer: MLP, seed: 0 },
      {
        onEpoch: (r) => {
          mlpEpochs = r.epoch;
          if (r.epoch % 10 === 0) log(`  epoch ${r.epoch}: loss ${r.loss.toFixed(5)}`);
        },
      },
    );
    const mlpFit = seconds(mlpStart);
    const mlpAccuracy = testAccuracy(mlp, test);
    metrics.sluice_mlp_fit_s = { value: mlpFit, unit: 's' };
    metrics.sluice_mlp_accuracy = { value: mlpAccuracy, unit: 'fraction' };
    metrics.sluice_mlp_epochs = { value: mlpEpochs, unit: 'epochs' };
    if (python) log('scikit-learn MLPClassifier on the same rows');
    const skMlp = sklearn('mlp');
    if (skMlp) {
      metrics.sklearn_mlp_fit_s = { value: skMlp.fit_s[0] as number, unit: 's' };
      metrics.sklearn_mlp_accuracy = { value: skMlp.accuracy, unit: 'fraction' };
      metrics.sklearn_mlp_epochs = { value: skMlp.iterations, unit: 'epochs' };
      ratios.mlp_accuracy_vs_sklearn = mlpAccuracy - skMlp.accuracy;
      ratios.mlp_time_vs_sklearn = mlpFit / (skMlp.fit_s[0] as number);
    }

    log('onnxruntime-node scoring of the exported logistic regression');
    const session = await InferenceSession.create(exportModelToOnnx(lr), { intraOpNumThreads: 2, interOpNumThreads: 1 });
    const x32 = new Float32Array(10_000 * FEATURES);
    for (let i = 0; i < x32.length; i++) x32[i] = generated.x[(nTrain * FEATURES + i) % generated.x.length] as number;
    const at10k = await scoringRate(session, x32, 10_000, 2);
    const at1024 = await scoringRate(session, x32, 1024, 2);
    const at1 = await scoringRate(session, x32, 1, 2);
    await session.release();
    metrics.ort_rows_per_s_10k = { value: at10k.rowsPerS, unit: 'rows/s' };
    metrics.ort_rows_per_s_1024 = { value: at1024.rowsPerS, unit: 'rows/s' };
    metrics.ort_rows_per_s_1 = { value: at1.rowsPerS, unit: 'rows/s' };
    metrics.ort_p50_ms_batch_1 = { value: at1.p50Ms, unit: 'ms' };
    ratios.ort_batch_speedup = at1024.rowsPerS / at1.rowsPerS;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // the machine is shared: a load well above the core count explains a slow figure
  notes.loadAverageAtEnd = os.loadavg();
  return { metrics, ratios, notes };
}

export const mlSuite: BenchSuite = {
  name: 'ml',
  description: 'train_accuracy_vs_sklearn, mlp_accuracy_vs_sklearn, train_time_vs_sklearn, ort_rows_per_s_10k, ort_batch_speedup',
  run: (ctx) => benchMl({ scale: ctx.scale, log: ctx.log }),
};

// Standalone: the suite needs neither Temporal nor PostgreSQL.
if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--scale');
  const scale = at >= 0 ? Number(args[at + 1]) : 1;
  if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${args[at + 1]}`);
  const log = (m: string): void => {
    process.stderr.write(`[bench] ${m}\n`);
  };
  benchMl({ scale, log })
    .then((r) => {
      const result = { suite: 'ml', ...r };
      process.stdout.write(`${formatTable(result)}\n`);
      log(`wrote ${writeResult(result)}`);
    })
    .catch((err: Error) => {
      process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    });
}
