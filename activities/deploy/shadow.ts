/**
 * Shadow sessions: the deploy workflow opens one (the scoring service then scores each request of
 * the endpoint with the candidate beside the champion and logs both answers in one prediction
 * event), waits for enough shadowed requests or the end of the window, compares the two from the
 * log, and ends the session. Prediction events are those of source `predictions.<endpoint>` (or
 * `predictions_<endpoint>`) whose payload carries `shadow.session_id`:
 * `{ request_id, outputs {label?, value?}, latency_ms, shadow {session_id, version, outputs, latency_ms} }`.
 */
import type { Pool } from 'pg';
import type { ModelTask } from '../../api/models';
import type { DeployPolicy, ShadowComparison } from '../../api/workflows/deploy';
import { inTransaction } from '../../db/transaction';
import { notifyEndpointChanged } from '../serve/notify';
import { predictionSource } from '../serve/predictionLog';

/** The metric on labelled shadow predictions, per task (RMSE, accuracy): SQL fragments from code, chosen by a key. */
const CHAMPION_METRIC_SQL = {
  regression: `sqrt(avg(power((champ->>'value')::float8 - label::float8, 2)))`,
  classification: `avg(((champ->>'label') = label)::int)::float8`,
} as const;
const CANDIDATE_METRIC_SQL = {
  regression: `sqrt(avg(power((cand->>'value')::float8 - label::float8, 2)))`,
  classification: `avg(((cand->>'label') = label)::int)::float8`,
} as const;

export type ShadowPolicy = NonNullable<DeployPolicy['shadow']>;

/** The log sources the scoring service may write an endpoint's predictions to. */
/** The log source(s) the scoring service writes an endpoint's predictions to (activities/serve/predictionLog.ts). */
export const predictionSources = (endpoint: string): string[] => [predictionSource(endpoint)];

export interface OpenShadowInput {
  endpoint: string;
  candidateVersion: number;
  championVersion: number | null;
  maxRequests: number;
  windowSeconds: number;
  workflowId: string;
  runId: string;
}

/** Opens the session of this workflow run, or finds the one it opened (a retry). Notifies the scoring service. */
export async function openShadowSession(pool: Pool, s: OpenShadowInput): Promise<{ sessionId: string; endsAt: string; created: boolean }> {
  return inTransaction(pool, async (c) => {
    const inserted = await c.query<{ id: string; ends_at: Date }>(
      `INSERT INTO sluice.shadow_sessions (endpoint, candidate_version, champion_version, max_requests, ends_at, workflow_id, run_id)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7)
       ON CONFLICT (workflow_id, run_id) DO NOTHING RETURNING id::text, ends_at`,
      [s.endpoint, s.candidateVersion, s.championVersion, s.maxRequests, s.windowSeconds, s.workflowId, s.runId],
    );
    if (inserted.rows[0]) {
      await notifyEndpointChanged(c, s.endpoint);
      return { sessionId: inserted.rows[0].id, endsAt: inserted.rows[0].ends_at.toISOString(), created: true };
    }
    const { rows } = await c.query<{ id: string; ends_at: Date }>(
      'SELECT id::text, ends_at FROM sluice.shadow_sessions WHERE workflow_id = $1 AND run_id = $2',
      [s.workflowId, s.runId],
    );
    const row = rows[0] as { id: string; ends_at: Date };
    return { sessionId: row.id, endsAt: row.ends_at.toISOString(), created: false };
  });
}

/** Appends the session's end (once: a second end is a no-op) and notifies the scoring service. */
export async function endShadowSession(pool: Pool, sessionId: string, outcome: 'completed' | 'cancelled'): Promise<{ ended: boolean }> {
  return inTransaction(pool, async (c) => {
    const r = await c.query(
      `INSERT INTO sluice.shadow_session_ends (session_id, outcome) VALUES ($1, $2) ON CONFLICT (session_id) DO NOTHING`,
      [sessionId, outcome],
    );
    const { rows } = await c.query<{ endpoint: string }>('SELECT endpoint FROM sluice.shadow_sessions WHERE id = $1', [sessionId]);
    if (rows[0]) await notifyEndpointChanged(c, rows[0].endpoint);
    return { ended: (r.rowCount ?? 0) > 0 };
  });
}

/** Shadowed requests of a session in the log so far. */
export async function countShadowed(pool: Pool, endpoint: string, sessionId: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM sluice.raw_events WHERE source = ANY($1) AND payload->'shadow'->>'session_id' = $2`,
    [predictionSources(endpoint), sessionId],
  );
  return rows[0]?.n ?? 0;
}

const round = (v: number | null): number | null => (v === null ? null : Number(v.toPrecision(6)));

/** Agreement, latency of both, and (where labels arrived) the metric of both, judged against the policy. */
export async function compareShadow(
  pool: Pool,
  input: { endpoint: string; sessionId: string; task: ModelTask; policy: ShadowPolicy },
): Promise<ShadowComparison> {
  const { policy } = input;
  const regression = input.task === 'regression';
  const { rows } = await pool.query<{
    requests: number;
    agreement: number | null;
    champ_p50: number | null;
    champ_p99: number | null;
    cand_p50: number | null;
    cand_p99: number | null;
  }>(
    `WITH p AS (
       SELECT payload->'outputs' AS champ, payload->'shadow'->'outputs' AS cand,
              (payload->>'latency_ms')::float8 AS champ_ms, (payload->'shadow'->>'latency_ms')::float8 AS cand_ms
         FROM sluice.raw_events WHERE source = ANY($1) AND payload->'shadow'->>'session_id' = $2)
     SELECT count(*)::int AS requests,
            avg(CASE WHEN $3 THEN (abs((champ->>'value')::float8 - (cand->>'value')::float8) <= $4)::int
                     ELSE ((champ->'label') = (cand->'label'))::int END)::float8 AS agreement,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY champ_ms) AS champ_p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY champ_ms) AS champ_p99,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY cand_ms) AS cand_p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY cand_ms) AS cand_p99
       FROM p`,
    [predictionSources(input.endpoint), input.sessionId, regression, policy.valueTolerance ?? 0],
  );
  const r = rows[0] ?? { requests: 0, agreement: null, champ_p50: null, champ_p99: null, cand_p50: null, cand_p99: null };
  const latencyRatio = r.champ_p99 !== null && r.cand_p99 !== null && r.champ_p99 > 0 ? r.cand_p99 / r.champ_p99 : null;
  const reasons: string[] = [];
  const minRequests = policy.minRequests ?? 1;
  if (r.requests < minRequests)
    reasons.push(`only ${r.requests} shadowed requests arrived in the window; the policy asks for at least ${minRequests}`);
  if (r.requests > 0 && (r.agreement ?? 0) < policy.minAgreement)
    reasons.push(`agreement with the champion ${round(r.agreement)} is below the policy's ${policy.minAgreement}`);
  if (policy.maxLatencyRatio !== undefined && latencyRatio !== null && latencyRatio > policy.maxLatencyRatio)
    reasons.push(`candidate p99 latency is ${round(latencyRatio)}× the champion's; the policy allows ${policy.maxLatencyRatio}×`);

  let labelled: ShadowComparison['labelled'] = null;
  if (policy.labels) {
    const l = policy.labels;
    const task = regression ? 'regression' : 'classification';
    const joined = await pool.query<{ n: number; champion: number | null; candidate: number | null }>(
      `WITH p AS (
         SELECT payload->>'request_id' AS request_id, payload->'outputs' AS champ, payload->'shadow'->'outputs' AS cand
           FROM sluice.raw_events WHERE source = ANY($1) AND payload->'shadow'->>'session_id' = $2),
       j AS (
         SELECT p.champ, p.cand, lab.label FROM p
           JOIN LATERAL (SELECT e.payload->>$4 AS label FROM sluice.raw_events e
                          WHERE e.source = $3 AND e.payload->>$5 = p.request_id ORDER BY e.seq DESC LIMIT 1) lab ON lab.label IS NOT NULL)
       SELECT count(*)::int AS n, ${CHAMPION_METRIC_SQL[task]} AS champion, ${CANDIDATE_METRIC_SQL[task]} AS candidate FROM j`,
      [predictionSources(input.endpoint), input.sessionId, l.source, l.labelField ?? 'label', l.requestIdField ?? 'request_id'],
    );
    const j = joined.rows[0];
    if (j && j.n > 0 && j.champion !== null && j.candidate !== null) {
      const worsening = regression ? j.candidate - j.champion : j.champion - j.candidate;
      labelled = {
        requests: j.n,
        metric: regression ? 'rmse' : 'accuracy',
        champion: j.champion,
        candidate: j.candidate,
        worsening,
      };
      const allowed = l.maxMetricWorsening ?? 0;
      if (worsening > allowed)
        reasons.push(
          `on ${j.n} labelled requests the candidate's ${labelled.metric} ${round(j.candidate)} is worse than the champion's ${round(j.champion)} by ${round(worsening)}; at most ${allowed} allowed`,
        );
    }
  }
  return {
    sessionId: input.sessionId,
    requests: r.requests,
    agreement: r.agreement,
    champion: { p50Ms: r.champ_p50, p99Ms: r.champ_p99 },
    candidate: { p50Ms: r.cand_p50, p99Ms: r.cand_p99 },
    latencyRatio,
    labelled,
    passed: reasons.length === 0,
    reasons,
  };
}
