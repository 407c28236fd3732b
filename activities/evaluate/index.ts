/** The evaluate step's activity: a model's metrics and inference cost on a test split, and its model card. */
import { ErrorCodes } from '../../api/errors';
import type { EvaluateModelResult, LatencyStats, ModelClassLabel, ModelMetrics } from '../../api/models';
import type { EvaluateModelInput } from '../../api/workflows/evaluate';
import { canonicalJson } from '../../contracts/canonical';
import type { ActivityDeps } from '../deps';
import { SluiceError } from '../failures';
import { withHeartbeat } from '../heartbeat';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { OnnxFormatError, readOnnxMetadata } from '../onnx/metadata';
import { renderModelCard, type ModelCard } from './card';
import { classificationMetrics, regressionMetrics, type ClassificationDetail } from './metrics';
import { measureLatency, openInferenceSession, scoreRows, type CreateSession } from './scoring';
import { DEFAULT_SPLIT_COLUMN, DEFAULT_TEST_VALUES, readTable, readTestRows, type ModelInputs } from './testSplit';

export interface EvaluateModelActivityResult extends EvaluateModelResult {
  runEventDetails: Record<string, unknown>;
}

export type EvaluateDeps = Pick<ActivityDeps, 'artifacts' | 'config' | 'log' | 'now'>;

/** Latency is measured at these batch sizes: one request, and a bulk-scoring batch. */
export const LATENCY_BATCH_SIZES = [1, 1024] as const;
const DEFAULT_LATENCY_RUNS = 200;
const DEFAULT_LATENCY_BUDGET_MS = 3_000;
const DEFAULT_SCORING_BATCH = 4096;

const invalid = (message: string): SluiceError => new SluiceError(ErrorCodes.InvalidInput, message);

function parseJsonList<T>(meta: Map<string, string>, key: string): T[] | undefined {
  const raw = meta.get(key);
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? (v as T[]) : undefined;
  } catch {
    // a malformed entry reads as absent; the caller refuses the model with the key's name
    return undefined;
  }
}

/** What the scorer needs from the file's metadata (written by activities/onnx), checked against what the caller says the model is. */
function modelContract(onnx: Uint8Array, input: EvaluateModelInput): { inputs: ModelInputs; classes: ModelClassLabel[]; label: string } {
  let meta: Map<string, string>;
  try {
    meta = readOnnxMetadata(onnx);
  } catch (err) {
    if (err instanceof OnnxFormatError) throw invalid(`ONNX model ${input.onnxSha256} is not an ONNX file: ${err.message}`);
    throw err;
  }
  const numericFeatures = parseJsonList<string>(meta, 'sluice.numeric_features');
  const categoricalFeatures = parseJsonList<string>(meta, 'sluice.categorical_features');
  const task = meta.get('sluice.task');
  if (!numericFeatures || !categoricalFeatures || !task) {
    throw invalid(
      `ONNX model ${input.onnxSha256} lacks sluice's metadata (sluice.task, sluice.numeric_features, sluice.categorical_features): only models exported by sluice's trainers can be evaluated`,
    );
  }
  if (task !== input.task) throw invalid(`the model is a ${task} model (its metadata says so), not ${input.task}`);
  const fileClasses = parseJsonList<ModelClassLabel>(meta, 'sluice.classes') ?? [];
  if (input.task !== 'regression') {
    if (input.classes && JSON.stringify(input.classes) !== JSON.stringify(fileClasses)) {
      throw invalid(
        `the classes given ${JSON.stringify(input.classes)} are not the model's ${JSON.stringify(fileClasses)} (class index order matters)`,
      );
    }
    if (fileClasses.length < 2) throw invalid(`ONNX model ${input.onnxSha256} records no class list (sluice.classes)`);
  }
  return {
    inputs: { numericFeatures, categoricalFeatures },
    classes: input.task === 'regression' ? [] : fileClasses,
    label: meta.get('sluice.label') ?? 'label',
  };
}

export function createEvaluateActivities(deps: EvaluateDeps, options: { createSession?: CreateSession } = {}) {
  return {
    /**
     * Scores the test rows of an Arrow file with an ONNX model (onnxruntime-node, in batches; CUDA
     * when the worker is configured for a GPU and the provider loads, else CPU, said in the result
     * and the log), computes its metrics and inference latency, and writes the metrics as JSON and
     * a self-contained HTML model card to the artifact store. The model's bytes are checked against
     * its sha256 before they are loaded. Side effects: two artifacts (content-addressed, so a retry
     * rewrites the same metrics file; the card differs only by its evaluation time and latencies).
     * Throws SLUICE_ARTIFACT_NOT_FOUND (model or test file missing), SLUICE_ARTIFACT_CORRUPT (bytes
     * do not match the sha256), SLUICE_INVALID_INPUT (not a sluice model, task or classes that
     * differ from the file's, no test rows, a missing feature value, an unknown label).
     */
    async evaluateModel(input: EvaluateModelInput): Promise<EvaluateModelActivityResult> {
      return withHeartbeat(async (hb) => {
        const onnx = await readVerifiedArtifact(deps.artifacts, input.onnxSha256, 'ONNX model');
        const model = modelContract(onnx, input);
        const split = input.testSplit;
        const splitColumn = split.splitColumn ?? DEFAULT_SPLIT_COLUMN;
        const testValues = split.testValues ?? DEFAULT_TEST_VALUES;
        const describe = `test file ${split.arrowSha256.slice(0, 12)}`;
        const table = readTable(await readVerifiedArtifact(deps.artifacts, split.arrowSha256, 'Arrow test file'), describe);
        const rows = readTestRows(table, {
          describe,
          inputs: model.inputs,
          splitColumn,
          testValues,
          labelColumn: split.labelColumn ?? model.label,
          task: input.task,
          classes: model.classes,
        });
        hb.progress({ step: 'loaded', testRows: rows.rows });

        const wantCuda = deps.config.onnxCuda && deps.config.gpuCount > 0;
        const { session, provider, note } = await openInferenceSession(onnx, wantCuda, options.createSession);
        deps.log(`evaluateModel: scoring on ${provider.toUpperCase()}${note ? ` (${note})` : ''}`, {
          onnxSha256: input.onnxSha256,
          testRows: rows.rows,
        });
        try {
          const classCount = model.classes.length;
          const scores = await scoreRows(session, rows, model.inputs, {
            classCount,
            batchSize: input.batchSize ?? DEFAULT_SCORING_BATCH,
            onBatch: (done) => {
              hb.checkCancelled();
              hb.progress({ step: 'scoring', done, of: rows.rows });
            },
          });
          let metrics: ModelMetrics;
          let detail: ClassificationDetail | undefined;
          if (input.task === 'regression') {
            metrics = regressionMetrics(rows.value as Float64Array, scores.value as Float32Array);
          } else {
            detail = classificationMetrics({
              classes: model.classes,
              actual: rows.classIndex as Int32Array,
              predicted: scores.predicted as Int32Array,
              probabilities: scores.probabilities as Float32Array,
            });
            metrics = detail.metrics;
          }
          const latency: LatencyStats[] = [];
          for (const batchSize of LATENCY_BATCH_SIZES) {
            hb.checkCancelled();
            hb.progress({ step: 'latency', batchSize });
            latency.push(
              await measureLatency(session, rows, model.inputs, {
                batchSize,
                runs: input.latency?.runs ?? DEFAULT_LATENCY_RUNS,
                budgetMs: input.latency?.budgetMs ?? DEFAULT_LATENCY_BUDGET_MS,
              }),
            );
          }
          const cost = { modelBytes: onnx.length, latency };
          const testSplit = { arrowSha256: split.arrowSha256, splitColumn, testValues, fileRows: rows.fileRows };
          const evaluatedAt = deps.now().toISOString();
          // latencies vary run to run; the metrics file holds only what the same inputs always give
          const metricsDoc = { onnxSha256: input.onnxSha256, testSplit, metrics };
          const metricsRef = await deps.artifacts.put(`${canonicalJson(metricsDoc)}\n`, {
            mediaType: 'application/json',
            extension: '.json',
          });
          const card: ModelCard = {
            modelName: input.modelName ?? input.lineage?.model ?? model.label,
            onnxSha256: input.onnxSha256,
            evaluatedAt,
            testSplit,
            metrics,
            rocCurves: detail?.rocCurves ?? [],
            cost,
            executionProvider: provider,
            ...(note ? { executionProviderNote: note } : {}),
            ...(input.lineage ? { lineage: input.lineage } : {}),
          };
          const cardRef = await deps.artifacts.put(renderModelCard(card), { mediaType: 'text/html', extension: '.html' });
          return {
            onnxSha256: input.onnxSha256,
            testRows: rows.rows,
            metrics,
            cost,
            executionProvider: provider,
            ...(note ? { executionProviderNote: note } : {}),
            metricsSha256: metricsRef.sha256,
            metricsUri: metricsRef.uri,
            cardSha256: cardRef.sha256,
            cardUri: cardRef.uri,
            runEventDetails: {
              onnxSha256: input.onnxSha256,
              testSplit,
              executionProvider: provider,
              // The fallback from CUDA to the CPU is part of the step's record, not only of its log.
              ...(note ? { executionProviderNote: note } : {}),
              metrics: { sha256: metricsRef.sha256, uri: metricsRef.uri },
              card: { sha256: cardRef.sha256, uri: cardRef.uri },
            },
          };
        } finally {
          await session.release();
        }
      });
    },
  };
}

export { classificationMetrics, percentile, regressionMetrics, rocAuc, rocCurve, calibrationBins } from './metrics';
export { openInferenceSession, type CreateSession } from './scoring';
export { renderModelCard, type ModelCard } from './card';
