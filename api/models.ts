/**
 * The public shapes of the model steps (evaluate, register, aliases, lineage): inputs and results
 * of the activities the `train` workflow calls, and what the client and CLI read back. Types only
 * (the evaluate input is declared once, as a schema, in api/workflows/evaluate.ts, which uses
 * these): they carry
 * digests, URIs and numbers, never rows or tensors.
 */

export type ModelTask = 'binary' | 'multiclass' | 'regression';
/** A class label as the dataset has it; class index k is classes[k]. */
export type ModelClassLabel = string | number;

export interface ClassMetrics {
  label: ModelClassLabel;
  /** Test rows of this class. */
  support: number;
  precision: number;
  recall: number;
  f1: number;
  /** One-vs-rest ROC AUC; null when the test split lacks positives or negatives of this class. */
  rocAuc: number | null;
}

export interface CalibrationBin {
  /** [lower, upper) of predicted probability; the last bin includes 1. */
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability in the bin (null when empty). */
  meanPredicted: number | null;
  /** Observed frequency of the event in the bin (null when empty). */
  observed: number | null;
}

export interface ClassificationMetrics {
  task: 'binary' | 'multiclass';
  rows: number;
  accuracy: number;
  /** Binary: AUC of the positive class (classes[1]); multiclass: macro one-vs-rest over the classes present. Null when undefined. */
  rocAuc: number | null;
  logLoss: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[actual][predicted], in class-index order. */
  confusion: number[][];
  /** Binary: P(positive class); multiclass: confidence of the predicted class vs. being right. */
  calibration: { kind: 'positive_class' | 'top_class'; bins: CalibrationBin[]; expectedCalibrationError: number };
}

export interface RegressionMetrics {
  task: 'regression';
  rows: number;
  rmse: number;
  mae: number;
  /** 1 − SS_res / SS_tot; null when the test labels are constant (SS_tot = 0). */
  r2: number | null;
}

export type ModelMetrics = ClassificationMetrics | RegressionMetrics;

export interface LatencyStats {
  batchSize: number;
  runs: number;
  p50Ms: number;
  p99Ms: number;
}

export interface InferenceCost {
  modelBytes: number;
  latency: LatencyStats[];
}

export type ExecutionProviderName = 'cpu' | 'cuda';

export interface EvaluateModelResult {
  onnxSha256: string;
  testRows: number;
  metrics: ModelMetrics;
  cost: InferenceCost;
  /** The provider that scored the rows. */
  executionProvider: ExecutionProviderName;
  /** Why CUDA was not used, when it was asked for and did not load. */
  executionProviderNote?: string;
  metricsSha256: string;
  metricsUri: string;
  cardSha256: string;
  cardUri: string;
}

export interface RegisterModelInput {
  name: string;
  datasetId: string;
  task: ModelTask;
  trainer: { kind: string; parameters: Record<string, unknown> };
  seed?: number;
  metrics: ModelMetrics | Record<string, unknown>;
  onnxSha256: string;
  /** The model card from evaluateModel. */
  card?: { sha256: string; uri?: string };
  /** Default: the calling workflow's id and run id. */
  workflowId?: string;
  runId?: string;
}

export interface RegisterModelResult {
  name: string;
  version: number;
  /** false when this workflow run had registered the same file already (a retry). */
  created: boolean;
  onnxUri: string;
  codeVersion: string;
  codeDirty: boolean | null;
}

export interface SetModelAliasInput {
  name: string;
  /** champion, challenger or any name matching ^[a-z][a-z0-9_-]{0,31}$. */
  alias: string;
  version: number;
  /** Who moved it (a user, a workflow) and why. */
  actor: string;
  reason?: string;
  workflowId?: string;
  runId?: string;
}

export interface SetModelAliasResult {
  name: string;
  alias: string;
  version: number;
  previousVersion: number | null;
  /** false when the alias already pointed at this version (nothing was written). */
  changed: boolean;
}

export interface ModelAliasEvent {
  alias: string;
  version: number;
  previousVersion: number | null;
  actor: string;
  reason: string;
  workflowId: string | null;
  runId: string | null;
  at: string;
}

/** A registered model version and everything it came from. */
export interface ModelLineage {
  name: string;
  version: number;
  task: ModelTask | null;
  createdAt: string;
  onnx: { uri: string; sha256: string };
  card: { uri: string; sha256: string } | null;
  metrics: Record<string, unknown>;
  code: { version: string; dirty: boolean | null };
  trainer: { kind: string; parameters: Record<string, unknown>; seed: number | null };
  producedBy: { workflowId: string; runId: string };
  dataset: {
    id: string;
    rowCount: number;
    artifactUri: string | null;
    createdAt: string;
    logRange: Record<string, { fromSeq?: string; toSeq?: string }>;
    contracts: { name: string; versions: string[] }[];
  };
  /** null when the dataset names no transform. */
  transform: {
    name: string;
    version: number;
    /**
     * Builds of that transform version whose log range covers the dataset's (the dataset row does
     * not name its build): exact matches first.
     */
    builds: { buildId: string; sha256: string; fromSeq: string; toSeq: string; rows: number; exactRange: boolean }[];
  } | null;
  aliases: string[];
  aliasHistory: ModelAliasEvent[];
}

export interface ModelVersionRef {
  name: string;
  version: number;
  datasetId: string;
  createdAt: string;
}

/** Reverse lineage: which models used a dataset, a log range (overlap) or a contract version. */
export type ModelsUsingQuery =
  | { kind: 'dataset'; datasetId: string }
  | { kind: 'logRange'; source: string; fromSeq: string; toSeq: string }
  | { kind: 'contract'; contract: string; version: string };
