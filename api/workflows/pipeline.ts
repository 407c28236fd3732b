/**
 * `pipeline`: a declarative pipeline spec (data, validated when it is applied) and the one generic
 * workflow that runs any spec's steps in order (as child workflows, or inline): catch-up of ingestion →
 * transform → validate → snapshot → train (with evaluate and register) → deploy. The spec is
 * declared here once; contracts/pipelines/pipeline.schema.json publishes it (`npm run schemas`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ContractName, SemVer, Sha256, SourceName, TransformName, TransformVersion } from '../names';
import { defineWorkflow, returns } from './define';
import { DatasetSpecSchema } from './snapshot';
import { ModelName, TrainerParamsSchema } from './train';

/** A pipeline name: part of workflow ids (`pipeline-<name>-<trigger key>`) and of the UI's filters. */
export const PipelineName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' });
/** What started a run (an event id, a schedule tick, a request id): one run per pipeline and key. */
export const TriggerKey = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' });
const ColumnName = Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' });
const Text = (maxLength: number) => Type.String({ maxLength });

/** The steps of a pipeline, in the order they run; a spec has the ones its sections ask for. */
export const PIPELINE_STEPS = ['ingest', 'transform', 'validate', 'snapshot', 'train', 'deploy'] as const;
export type PipelineStepName = (typeof PIPELINE_STEPS)[number];
export const PipelineStepNameSchema = Type.Union(PIPELINE_STEPS.map((s) => Type.Literal(s)));

export const PipelineSourceSchema = Type.Object(
  {
    source: SourceName,
    /** The contract its events are checked against (default: the source's own name). */
    contract: Type.Optional(ContractName),
    /** Pinned contract version (default: the newest). */
    contractVersion: Type.Optional(SemVer),
  },
  { additionalProperties: false },
);

export const PipelineTransformSchema = Type.Object(
  {
    name: TransformName,
    version: TransformVersion,
    /**
     * The SQL of this version: a file next to the spec (`sqlFile`), inlined as `sql` by
     * `sluice pipelines apply`, with its sha256; the run registers it (idempotent for identical
     * SQL). Neither: a transform version registered before.
     */
    sqlFile: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
    sql: Type.Optional(Type.String({ minLength: 1, maxLength: 100000 })),
    sqlSha256: Type.Optional(Sha256),
    /** Sources whose landed data wakes it (default: every source of the pipeline). */
    sources: Type.Optional(Type.Array(SourceName, { minItems: 1, maxItems: 64, uniqueItems: true })),
    description: Type.Optional(Text(2000)),
  },
  { additionalProperties: false },
);

export const PipelineValidationSchema = Type.Object(
  {
    /** The contract whose expectation suite runs. */
    suite: ContractName,
    version: Type.Optional(SemVer),
    /** What it runs on: the log range the run caught up to (default), or a transform's live table. */
    on: Type.Optional(
      Type.Union([
        Type.Object({ log: SourceName }, { additionalProperties: false }),
        Type.Object({ table: TransformName }, { additionalProperties: false }),
      ]),
    ),
    /** Failed `error` expectations stop the run before snapshot (default true); false records them and goes on. */
    blockOnError: Type.Optional(Type.Boolean()),
    sampleSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);

export const PipelineDatasetSchema = Type.Object(
  {
    /** One of the pipeline's transforms (its version from `transforms`). */
    transform: TransformName,
    columns: Type.Optional(Type.Array(ColumnName, { minItems: 1, maxItems: 1600, uniqueItems: true })),
    spec: DatasetSpecSchema,
  },
  { additionalProperties: false },
);

export const PipelineTrainSchema = Type.Object(
  {
    model: ModelName,
    trainer: TrainerParamsSchema,
    seed: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    device: Type.Optional(Type.Union([Type.Literal('gpu'), Type.Literal('cpu')])),
    checkpointEveryEpochs: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    checkpointEverySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
    heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 2, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const PipelineDeploySchema = Type.Object(
  {
    /** The scoring endpoint the model serves on. */
    endpoint: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' }),
    /** Gates, approval, shadow: checked by the deploy workflow (stored as it is until then). */
    policy: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);

/** Seconds, minutes, hours or days: `30s`, `15m`, `6h`, `1d`. */
/** The pattern of {@link Interval} (also parsed by activities/pipeline/triggers.ts intervalSeconds). */
export const INTERVAL_PATTERN = '^([1-9][0-9]{0,5})(s|m|h|d)$';
const Interval = Type.String({ pattern: INTERVAL_PATTERN });

export const PipelineScheduleSchema = Type.Union([
  Type.Object(
    {
      name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' }),
      cron: Type.String({ pattern: '^\\S+( \\S+){4,5}$', maxLength: 200 }),
      reason: Type.Optional(Text(500)),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' }), every: Interval, reason: Type.Optional(Text(500)) },
    { additionalProperties: false },
  ),
]);

export const PipelineTriggersSchema = Type.Object(
  {
    /** Start or advance the pipeline when data lands on its sources, debounced by rows or time. */
    dataLanded: Type.Optional(
      Type.Object(
        { minRows: Type.Optional(Type.Integer({ minimum: 1 })), maxWait: Type.Optional(Interval) },
        { additionalProperties: false },
      ),
    ),
    /** Retrain when a feature drifts past these thresholds (PSI, KS statistic). */
    drift: Type.Optional(
      Type.Object(
        {
          psi: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          ks: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
          window: Type.Optional(Interval),
        },
        { additionalProperties: false },
      ),
    ),
    /** Retrain when a live metric (predictions joined to late labels) falls below a floor. */
    performance: Type.Optional(
      Type.Object(
        { metric: Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), min: Type.Number(), window: Type.Optional(Interval) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const PipelineSpecSchema = Type.Object(
  {
    name: PipelineName,
    description: Type.Optional(Text(2000)),
    sources: Type.Array(PipelineSourceSchema, { minItems: 1, maxItems: 64 }),
    transforms: Type.Optional(Type.Array(PipelineTransformSchema, { maxItems: 64 })),
    validation: Type.Optional(PipelineValidationSchema),
    dataset: Type.Optional(PipelineDatasetSchema),
    train: Type.Optional(PipelineTrainSchema),
    deploy: Type.Optional(PipelineDeploySchema),
    schedules: Type.Optional(Type.Array(PipelineScheduleSchema, { maxItems: 32 })),
    triggers: Type.Optional(PipelineTriggersSchema),
    /**
     * How validate, snapshot and train run. `child-workflows` (the default): each execution is a
     * workflow of its own (`<run id>/<step>/<attempt>`), listed in the UI with its own search
     * attributes, and the same workflow a user starts by hand. `inline`: their activities run in
     * the pipeline's own history (activity ids `<step>/<attempt>/<activity>`), about a fifth of
     * the orchestration time per step and no separate runs to list. Deploy is always the
     * endpoint's own workflow.
     */
    execution: Type.Optional(Type.Union([Type.Literal('child-workflows'), Type.Literal('inline')])),
  },
  { additionalProperties: false, $id: 'https://sluice.dev/schemas/pipeline.schema.json', title: 'sluice pipeline spec' },
);
export type PipelineSpec = Static<typeof PipelineSpecSchema>;

const Seconds = Type.Integer({ minimum: 0, maximum: 30 * 86400 });

export const PipelineInputSchema = Type.Object(
  {
    /** The applied spec's name and version (`sluice pipelines apply`); the run loads the spec by them. */
    pipeline: PipelineName,
    specVersion: Type.Integer({ minimum: 1 }),
    triggerKey: TriggerKey,
    /** Why it runs (a person, a schedule tick, a drift alert), in the memo and the run events. */
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
    /** How long a failed run waits for a `rerun` before it fails (default 1 day). */
    rerunWindowAfterFailureSeconds: Type.Optional(Seconds),
    /** How long a finished run still takes a `rerun` before it completes (default 0). */
    rerunWindowAfterSuccessSeconds: Type.Optional(Seconds),
    /** Task queues, when the workers use other names than sluice-cpu / sluice-gpu. */
    queues: Type.Optional(
      Type.Object(
        {
          cpu: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          gpu: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PipelineInput = Static<typeof PipelineInputSchema>;

/** `rerun` (signal and update): run again from `fromStep`, reusing what the steps before it produced. */
export const RerunRequestSchema = Type.Object(
  { fromStep: PipelineStepNameSchema, reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);
export type RerunRequest = Static<typeof RerunRequestSchema>;

export interface RerunAnswer {
  accepted: boolean;
  /** Why not, when refused. */
  reason?: string;
  /** The rerun's number in this run (1 = the first rerun). */
  rerun?: number;
}

/** What a step produced: references only (log ranges, dataset ids, model versions). */
export interface PipelineStepOutput {
  logRanges?: Record<string, { fromSeq: string; toSeq: string } | null>;
  transforms?: { name: string; version: number; watermark: string }[];
  validation?: { passed: boolean; failedErrors: string[]; failedWarnings: string[]; reportSha256: string; htmlSha256: string };
  datasetId?: string;
  rowCount?: number;
  model?: { name: string; version: number; cardSha256: string; onnxSha256: string };
  /** The deploy step's outcome: what the endpoint serves afterwards. */
  deployment?: { endpoint: string; model: string; version: number; status: string; championAfter: number | null };
}

export interface PipelineStepStatus {
  step: PipelineStepName;
  state: 'pending' | 'running' | 'completed' | 'failed';
  /** Executions of this step in this run (reruns count). */
  attempt: number;
  /** The child workflow of the latest execution, if the step runs one (not with `execution: inline`). */
  workflowId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  counts: Record<string, number>;
  /** Browser links to what the step published (data docs, model card). */
  links: Record<string, string>;
  output: PipelineStepOutput | null;
  error: { type: string; message: string; details?: unknown } | null;
}

export interface PipelineRerunRecord {
  fromStep: PipelineStepName;
  reason: string;
  at: string;
  via: 'signal' | 'update';
}

export interface PipelineStatus {
  pipeline: string;
  specVersion: number;
  triggerKey: string;
  reason: string;
  state: 'running' | 'failed' | 'completed' | 'waiting';
  /** The step running now, or the one that failed. */
  currentStep: PipelineStepName | null;
  steps: PipelineStepStatus[];
  reruns: PipelineRerunRecord[];
  /** Rerun signals that could not be taken (a signal has no caller to answer), with why. */
  refusedReruns: { fromStep: string; reason: string; why: string; at: string }[];
  /** When a waiting run stops taking reruns (ISO time), if it waits. */
  rerunUntil: string | null;
}

export interface PipelineResult {
  pipeline: string;
  specVersion: number;
  steps: PipelineStepStatus[];
  reruns: PipelineRerunRecord[];
}

export const pipeline = defineWorkflow({
  name: 'pipeline',
  description:
    'Runs an applied pipeline spec (by name and version) end to end as child workflows, passing references only; rerun from any step by the `rerun` signal or update; `status` query.',
  input: PipelineInputSchema,
  result: returns<PipelineResult>(),
});
