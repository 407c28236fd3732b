/**
 * `deploy`: a registered model version becomes the one an endpoint serves, only through gates:
 * gate (beat the champion) → approval (optional, a Temporal Update) → shadow (optional, scored
 * beside the champion by the scoring service) → promote (one atomic alias switch). `rollback`
 * restores the previous champion. Both run under the workflow id `deploy-<endpoint>`, so two
 * changes of one endpoint never run at once.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineWorkflow, returns } from './define';
import { ModelName } from './train';

/** An endpoint name, as sluice.endpoints checks it. */
export const EndpointName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' });

/** Metrics of the model card a gate can compare; the latencies are measured at batch size 1 on the same worker. */
export const GATE_METRICS = ['accuracy', 'rocAuc', 'logLoss', 'macroF1', 'rmse', 'mae', 'r2', 'p50LatencyMs', 'p99LatencyMs'] as const;
export type GateMetric = (typeof GATE_METRICS)[number];
/** Metrics where less is better (errors, latency); for the others more is better. */
export const LOWER_IS_BETTER: readonly GateMetric[] = ['logLoss', 'rmse', 'mae', 'p50LatencyMs', 'p99LatencyMs'];

const GateMetricSchema = Type.Union(GATE_METRICS.map((m) => Type.Literal(m)));
const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '\\S' });
const Seconds = Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600 });

export const DeployPolicySchema = Type.Object(
  {
    gate: Type.Object(
      {
        /** The metric the candidate must beat the champion on, by `margin` (in the metric's own unit). */
        metric: GateMetricSchema,
        margin: Type.Number({ minimum: 0 }),
        /** Metrics the candidate must not worsen by more than `maxWorsening` (e.g. logLoss, p99LatencyMs). */
        guards: Type.Optional(
          Type.Array(
            Type.Object({ metric: GateMetricSchema, maxWorsening: Type.Number({ minimum: 0 }) }, { additionalProperties: false }),
            {
              maxItems: 10,
            },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    /** A person approves or rejects (updates `approve` / `reject`) within `timeoutSeconds`, or the deployment expires. */
    approval: Type.Optional(Type.Object({ required: Type.Boolean(), timeoutSeconds: Seconds }, { additionalProperties: false })),
    /** The scoring service scores the endpoint's requests with the candidate beside the champion, then the two are compared. */
    shadow: Type.Optional(
      Type.Object(
        {
          /** The shadow period ends after this many shadowed requests… */
          maxRequests: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
          /** …or after this long, whichever comes first. */
          windowSeconds: Seconds,
          /** Fewer shadowed requests than this at the end rejects the candidate (default 1). */
          minRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
          /** Share of requests where both answer the same (label; or |Δvalue| ≤ valueTolerance for regression). */
          minAgreement: Type.Number({ minimum: 0, maximum: 1 }),
          valueTolerance: Type.Optional(Type.Number({ minimum: 0 })),
          /** Candidate p99 latency ÷ champion p99 latency may not exceed this. */
          maxLatencyRatio: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          /**
           * Labels that arrive later, as events of their own source joined to the predictions by
           * request id: the candidate's accuracy (RMSE for regression) is compared with the champion's.
           */
          labels: Type.Optional(
            Type.Object(
              {
                source: Type.String({ pattern: '^[a-z][a-z0-9_.]{0,62}$' }),
                /** Top-level field of the label event holding the request id (default request_id) and the label (default label). */
                requestIdField: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' })),
                labelField: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' })),
                /** How much worse than the champion the candidate may be on the labelled requests (default 0). */
                maxMetricWorsening: Type.Optional(Type.Number({ minimum: 0 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** After promotion the deployment stays open this long for a `rollback` (signal or update); default 0. */
    watchSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 })),
    /** A deploy of an endpoint that already has one running: wait for it to end, or refuse at once. */
    onConflict: Type.Union([Type.Literal('wait'), Type.Literal('refuse')]),
  },
  { additionalProperties: false },
);
export type DeployPolicy = Static<typeof DeployPolicySchema>;

export const DeployInputSchema = Type.Object(
  {
    model: ModelName,
    /** The candidate: `<model>@<version>`, registered. */
    version: Type.Integer({ minimum: 1, maximum: 2147483647 }),
    endpoint: EndpointName,
    policy: DeployPolicySchema,
    /** Who asked for the deployment (recorded with each alias move). */
    actor: Type.Optional(Text(200)),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type DeployInput = Static<typeof DeployInputSchema>;

export type DeployStatus = 'running' | 'awaiting-approval' | 'promoted' | 'rejected' | 'expired' | 'rolled-back' | 'failed';
export type DeployStep = 'gate' | 'approval' | 'shadow' | 'promote' | 'watch';

export interface GateComparison {
  metric: GateMetric;
  candidate: number | null;
  champion: number | null;
  /** Improvement (positive: the candidate is better), in the metric's unit. */
  improvement: number | null;
  required: number;
  passed: boolean;
}

export interface GateResult {
  passed: boolean;
  /** The endpoint had no champion: the gate passes with that fact recorded. */
  noChampion: boolean;
  championVersion: number | null;
  /** Where the numbers come from: recorded metrics (same dataset) or both re-scored on the candidate's test split. */
  basis: 'no-champion' | 'recorded' | 'rescored';
  primary: GateComparison | null;
  guards: (GateComparison & { maxWorsening: number })[];
  /** Why it failed, in words. */
  reasons: string[];
}

export interface ApprovalDecision {
  decision: 'approved' | 'rejected';
  who: string;
  reason: string;
  at: string;
}

export interface ShadowComparison {
  sessionId: string;
  requests: number;
  agreement: number | null;
  champion: { p50Ms: number | null; p99Ms: number | null };
  candidate: { p50Ms: number | null; p99Ms: number | null };
  latencyRatio: number | null;
  /** Where labels arrived: the metric on the labelled requests (accuracy, or RMSE for regression). */
  labelled: { requests: number; metric: 'accuracy' | 'rmse'; champion: number; candidate: number; worsening: number } | null;
  passed: boolean;
  reasons: string[];
}

export interface DeployResult {
  endpoint: string;
  model: string;
  version: number;
  status: Exclude<DeployStatus, 'running' | 'awaiting-approval' | 'failed'>;
  /** The champion when the deployment started (null: none). */
  championBefore: number | null;
  /** The champion when it ended. */
  championAfter: number | null;
  gate: GateResult;
  approval?: ApprovalDecision | { decision: 'expired'; at: string };
  shadow?: ShadowComparison;
  rollback?: RollbackResult;
}

/** Sent with `approve` / `reject`: who decided, and why. */
export interface ApprovalRequest {
  who: string;
  reason: string;
}

export interface RollbackRequest {
  who: string;
  reason?: string;
}

export interface RollbackResult {
  endpoint: string;
  model: string;
  /** The champion before the rollback and the one restored. */
  from: number;
  to: number;
  /** What `previous` points at now (the champion before `to` in the history; `to` itself when there is none). */
  previous: number;
}

export interface DeploymentState {
  endpoint: string;
  model: string;
  version: number;
  status: DeployStatus;
  step: DeployStep;
  gate?: GateResult;
  approval?: DeployResult['approval'];
  shadow?: ShadowComparison;
  /** When the approval request expires (ISO time), while it is pending. */
  approvalExpiresAt?: string;
}

export const RollbackInputSchema = Type.Object(
  { endpoint: EndpointName, actor: Text(200), reason: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);
export type RollbackInput = Static<typeof RollbackInputSchema>;

export const deploy = defineWorkflow({
  name: 'deploy',
  description:
    'Deploys a registered model version to a named endpoint through a gate (beat the champion by a margin, no guard worse), optional human approval (updates approve/reject with expiry), optional shadow scoring beside the champion, then one atomic alias switch (champion → candidate, old champion → previous).',
  input: DeployInputSchema,
  result: returns<DeployResult>(),
});

export const rollback = defineWorkflow({
  name: 'rollback',
  description:
    "Restores an endpoint's previous champion in one transaction (previous → champion; previous → the champion before it in the alias history), refusing when there is none.",
  input: RollbackInputSchema,
  result: returns<RollbackResult>(),
});

/** The workflow id of every change of an endpoint (deploy and rollback): one at a time per endpoint. */
export function deployWorkflowId(endpoint: string): string {
  return `deploy-${endpoint}`;
}
