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
 *    medians of three fits each.
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
import { makeClassification, predict, trainModel, type DatasetSpec, type TabularData, type TrainedModel, type TrainerParams } from '../../activities/train';
import { formatTable, writeResult, type BenchResult, type BenchSuite } from './harness';

const FEATURES = 30;
const SPEC: DatasetSpec = {
  features: Array.from({ length: FEATURES }, (_, j) => ({ name: `f${j}`, kind: 'numeric' as const })),
  label: 'label',
  task: 'binary',
};
const LR: TrainerParams = { trainer: 'logistic_regression' };
const MLP: TrainerParams = { trainer: 'mlp', hiddenLayers: [64, 64], learningRate: 1e-3, batchSize: 200, l2: 1e-4, maxEpochs: 50, patience: 10, minDelta: 1e-4, validationFraction: 0 };

const SKLEARN_SCRIPT = `
import json, sys, time
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
d, n, n_train = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = np.fromfile(d + '/x.f64', dtype='<f8').reshape(n, ${FEATURES})
y = np.fromfile(d + '/y.i32', dtype='<i4')
Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
lr_times, lr_acc = [], None
for _ in range(3):
    t = time.perf_counter(); m = LogisticRegression(max_iter=1000).fit(Xtr, ytr); lr_times.append(time.perf_counter() - t)
    lr_acc = float(m.score(Xte, yte)); lr_iter = int(m.n_iter_[0])
t = time.perf_counter(); mlp = MLPClassifier((64, 64), max_iter=50, random_state=0).fit(Xtr, ytr); mlp_time = time.perf_counter() - t
import sklearn
print(json.dumps({"version": sklearn.__version__, "lr_fit_s": sorted(lr_times)[1], "lr_accuracy": lr_acc, "lr_iterations": lr_iter,
                  "mlp_fit_s": mlp_time, "mlp_accuracy": float(mlp.score(Xte, yte)), "mlp_epochs": int(mlp.n_iter_)}))
`;

interface SklearnFigures {
  version: string;
  lr_fit_s: number;
  lr_accuracy: number;
  lr_iterations: number;
  mlp_fit_s: number;
  mlp_accuracy: number;
  mlp_epochs: number;
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
async function scoringRate(session: InferenceSession, x: Float32Array, batch: number, minSeconds: number): Promise<{ rowsPerS: number; p50Ms: number }> {
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
  const notes: Record<string, unknown> = { rows, trainRows: nTrain, testRows: rows - nTrain, features: FEATURES, cpus: os.cpus().length, node: process.version };

  log(`logistic regression on ${nTrain.toLocaleString('en-US')} × ${FEATURES}`);
  const lrTimes: number[] = [];
  let lr: TrainedModel | undefined;
  let lrEpochs = 0;
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    lr = trainModel({ data: train, spec: SPEC, trainer: LR, seed: 0 }, { onEpoch: (r) => (lrEpochs = r.epoch) });
    lrTimes.push(seconds(t));
  }
  if (!lr) throw new Error('no model');
  const lrAccuracy = testAccuracy(lr, test);
  metrics.sluice_lr_fit_s = { value: median(lrTimes), unit: 's' };
  metrics.sluice_lr_accuracy = { value: lrAccuracy, unit: 'fraction' };
  metrics.sluice_lr_epochs = { value: lrEpochs, unit: 'L-BFGS iterations' };

  log('MLP 30-64-64 (at most 50 epochs)');
  const mlpStart = process.hrtime.bigint();
  let mlpEpochs = 0;
  const mlp = trainModel({ data: train, spec: SPEC, trainer: MLP, seed: 0 }, {
    onEpoch: (r) => {
      mlpEpochs = r.epoch;
      if (r.epoch % 10 === 0) log(`  epoch ${r.epoch}: loss ${r.loss.toFixed(5)}`);
    },
  });
  const mlpFit = seconds(mlpStart);
  const mlpAccuracy = testAccuracy(mlp, test);
  metrics.sluice_mlp_fit_s = { value: mlpFit, unit: 's' };
  metrics.sluice_mlp_accuracy = { value: mlpAccuracy, unit: 'fraction' };
  metrics.sluice_mlp_epochs = { value: mlpEpochs, unit: 'epochs' };

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

  const python = findSklearnPython();
  if (!python) {
    notes.sklearn = 'not measured: no python3 imports sklearn and numpy (Debian: apt-get install python3-sklearn)';
  } else {
    log(`scikit-learn on the same rows (${python})`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-ml-'));
    try {
      fs.writeFileSync(path.join(dir, 'x.f64'), new Uint8Array(generated.x.buffer, generated.x.byteOffset, generated.x.byteLength));
      fs.writeFileSync(path.join(dir, 'y.i32'), new Uint8Array(generated.y.buffer, generated.y.byteOffset, generated.y.byteLength));
      const r = spawnSync(python, ['-c', SKLEARN_SCRIPT, dir, String(rows), String(nTrain)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`scikit-learn run failed (exit ${r.status}): ${r.stderr}`);
      const sk = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as SklearnFigures;
      metrics.sklearn_lr_fit_s = { value: sk.lr_fit_s, unit: 's' };
      metrics.sklearn_lr_accuracy = { value: sk.lr_accuracy, unit: 'fraction' };
      metrics.sklearn_lr_iterations = { value: sk.lr_iterations, unit: 'L-BFGS iterations' };
      metrics.sklearn_mlp_fit_s = { value: sk.mlp_fit_s, unit: 's' };
      metrics.sklearn_mlp_accuracy = { value: sk.mlp_accuracy, unit: 'fraction' };
      metrics.sklearn_mlp_epochs = { value: sk.mlp_epochs, unit: 'epochs' };
      // differences, not quotients: the goals are "≥ −0.005"
      ratios.train_accuracy_vs_sklearn = lrAccuracy - sk.lr_accuracy;
      ratios.mlp_accuracy_vs_sklearn = mlpAccuracy - sk.mlp_accuracy;
      ratios.train_time_vs_sklearn = median(lrTimes) / sk.lr_fit_s;
      ratios.mlp_time_vs_sklearn = mlpFit / sk.mlp_fit_s;
      notes.sklearn = `scikit-learn ${sk.version}`;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  notes.lrFitSeconds = lrTimes;
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
