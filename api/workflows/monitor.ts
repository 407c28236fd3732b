/**
 * `monitor`: the threshold trigger. Drift (PSI, KS) of recent rows of a derived table against the
 * champion's training dataset, and performance from predictions joined to labels; past a threshold
 * it starts the trigger (today a `train` run).
 */
import { PipelineName } from './pipeline';
import { Type, type Static } from '@sinclair/typebox';
import { Seq, SourceName, TransformName, TransformVersion } from '../names';
import { defineWorkflow, returns } from './define';
import { ModelName, TrainInputSchema } from './train';

const ColumnName = Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' });
const FieldName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });
const Threshold = Type.Number({ exclusiveMinimum: 0 });

/**
 * What starts past a threshold: a `train` run with this input, or a run of a pipeline (its latest
 * applied spec version unless `specVersion` is given; trigger key `monitor-<monitorId>-<last seq>`).
 */
export const MonitorTriggerSchema = Type.Union([
  Type.Object({ kind: Type.Literal('train'), input: TrainInputSchema }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal('pipeline'), pipeline: PipelineName, specVersion: Type.Optional(Type.Integer({ minimum: 1 })) },
    { additionalProperties: false },
  ),
]);
export type MonitorTrigger = Static<typeof MonitorTriggerSchema>;

export const MonitorInputSchema = Type.Object(
  {
    /** Names this monitor: the retrain's workflow id is `retrain-<monitorId>-<last seq checked>`, so one tick starts one retrain. */
    monitorId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' }),
    /** The model watched: `name@alias` (default alias `champion`); its training dataset is the baseline. */
    model: Type.Object(
      { name: ModelName, alias: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' })) },
      { additionalProperties: false },
    ),
    /**
     * The recent rows: the newest `lastRows` (default 10,000) rows of the derived table, optionally
     * only those from `fromSeq` on, or newer than `sinceMinutes`.
     */
    recent: Type.Object(
      {
        transform: TransformName,
        /** Default: the live version. */
        version: Type.Optional(TransformVersion),
        lastRows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        fromSeq: Type.Optional(Seq),
        /** Rows up to this `seq` only (a past tick, checked again). */
        toSeq: Type.Optional(Seq),
        /** Rows whose `timeColumn` (default `event_time`) is within the last this many minutes. */
        sinceMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 525_600 })),
        timeColumn: Type.Optional(ColumnName),
      },
      { additionalProperties: false },
    ),
    /** Features to check (default: every feature of the model's dataset spec). */
    features: Type.Optional(Type.Array(ColumnName, { minItems: 1, maxItems: 1000, uniqueItems: true })),
    thresholds: Type.Optional(
      Type.Object(
        {
          /** PSI above this is drift (default 0.25). */
          psi: Type.Optional(Threshold),
          /** KS statistic above this is drift (numeric features; default 0.2). */
          ks: Type.Optional(Threshold),
          /** Accuracy lower (RMSE higher) than the registered test metric by more than this: a drop (off when absent). */
          metricDrop: Type.Optional(Threshold),
        },
        { additionalProperties: false },
      ),
    ),
    /** Predictions (events with payload {request_id, model {name, version}, outputs {label}}) joined to labels by request id. */
    performance: Type.Optional(
      Type.Object(
        {
          predictionsSource: SourceName,
          labelsSource: SourceName,
          /** Field of a label event holding the request id (default `request_id`) and the true label (default `label`). */
          requestIdField: Type.Optional(FieldName),
          labelField: Type.Optional(FieldName),
          /** Newest joined pairs used (default 10,000). */
          lastPairs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Started past a threshold; without it the monitor only reports. */
    trigger: Type.Optional(MonitorTriggerSchema),
  },
  { additionalProperties: false },
);
export type MonitorInput = Static<typeof MonitorInputSchema>;

export interface FeatureDrift {
  feature: string;
  kind: 'numeric' | 'categorical';
  psi: number | null;
  /** Numeric features only: against the dataset's values (Arrow file). */
  ks: number | null;
  baselineRows: number;
  recentRows: number;
  /** Which thresholds it passed. */
  drifted: ('psi' | 'ks')[];
  /** Why a figure is missing (no rows, not in the table…). */
  note?: string;
}

export interface MonitorPerformance {
  status: 'measured' | 'skipped';
  /** Why it was skipped. */
  reason?: string;
  metric?: 'accuracy' | 'rmse';
  pairs?: number;
  current?: number;
  /** The registered test metric of the model. */
  registered?: number;
  /** How much worse than registered (positive = worse). */
  drop?: number;
  dropped?: boolean;
}

export interface MonitorMeasurement {
  model: string;
  version: number;
  datasetId: string;
  table: string;
  /** `seq` of the oldest and newest recent row checked (null when there were none). */
  logRange: { fromSeq: string | null; toSeq: string | null };
  recentRows: number;
  features: FeatureDrift[];
  performance: MonitorPerformance;
  /** What moved, in words: empty when nothing passed a threshold. */
  reasons: string[];
}

export interface MonitorResult extends MonitorMeasurement {
  decision: 'retrain-started' | 'retrain-already-started' | 'no-drift' | 'no-trigger' | 'no-recent-data';
  /** The trigger's workflow id when one was started (now or by an earlier run of the same tick). */
  retrainWorkflowId?: string;
}

export const monitor = defineWorkflow({
  name: 'monitor',
  description:
    "Checks a model's recent data for drift (PSI/KS against its training dataset) and its performance (predictions joined to labels); past a threshold it starts a retrain, once per checked log range.",
  input: MonitorInputSchema,
  result: returns<MonitorResult>(),
});
