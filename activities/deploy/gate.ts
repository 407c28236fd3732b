/**
 * The deploy gate as a pure function of two sets of numbers: the candidate must beat the champion
 * on the gate metric by the margin, and be no worse than allowed on each guard metric. The numbers
 * are the recorded test metrics (same dataset) or both models re-scored on the candidate's test
 * split; latency is only ever compared from a re-scoring (the registry records no latency).
 */
import type { InferenceCost, ModelMetrics } from '../../api/models';
import { LOWER_IS_BETTER, type DeployPolicy, type GateComparison, type GateMetric, type GateResult } from '../../api/workflows/deploy';

export type GateNumbers = Partial<Record<GateMetric, number | null>>;

/** The numbers a gate can compare, from a model's metrics (and, when measured, its latency at batch size 1). */
export function gateNumbers(metrics: ModelMetrics | Record<string, unknown>, cost?: InferenceCost): GateNumbers {
  const m = metrics as Record<string, unknown>;
  const out: GateNumbers = {};
  for (const k of ['accuracy', 'rocAuc', 'logLoss', 'macroF1', 'rmse', 'mae', 'r2'] as const) {
    const v = m[k];
    out[k] = typeof v === 'number' && Number.isFinite(v) ? v : null;
  }
  const single = cost?.latency.find((l) => l.batchSize === 1);
  if (single) {
    out.p50LatencyMs = single.p50Ms;
    out.p99LatencyMs = single.p99Ms;
  }
  return out;
}

/** Does the gate need latency (which only a re-scoring measures)? */
export function gateNeedsLatency(gate: DeployPolicy['gate']): boolean {
  const latency = (m: GateMetric): boolean => m === 'p50LatencyMs' || m === 'p99LatencyMs';
  return latency(gate.metric) || (gate.guards ?? []).some((g) => latency(g.metric));
}

function compare(metric: GateMetric, candidate: GateNumbers, champion: GateNumbers, required: number, guard: boolean): GateComparison {
  const c = candidate[metric] ?? null;
  const h = champion[metric] ?? null;
  if (c === null || h === null) return { metric, candidate: c, champion: h, improvement: null, required, passed: false };
  const improvement = LOWER_IS_BETTER.includes(metric) ? h - c : c - h;
  // a guard allows a worsening up to `required`; the gate metric needs an improvement of at least `required`
  const passed = guard ? -improvement <= required : improvement >= required;
  return { metric, candidate: c, champion: h, improvement, required, passed };
}

const fmt = (v: number | null): string => (v === null ? 'n/a' : Number(v.toPrecision(6)).toString());

export function judgeGate(input: {
  gate: DeployPolicy['gate'];
  candidate: GateNumbers;
  champion: GateNumbers | null;
  championVersion: number | null;
  basis: GateResult['basis'];
}): GateResult {
  if (input.champion === null) {
    return {
      passed: true,
      noChampion: true,
      championVersion: null,
      basis: 'no-champion',
      primary: null,
      guards: [],
      reasons: ['the endpoint has no champion: the candidate passes the gate unopposed'],
    };
  }
  const reasons: string[] = [];
  const primary = compare(input.gate.metric, input.candidate, input.champion, input.gate.margin, false);
  if (!primary.passed) {
    reasons.push(
      primary.improvement === null
        ? `${primary.metric} is not known for both models (candidate ${fmt(primary.candidate)}, champion ${fmt(primary.champion)})`
        : `${primary.metric}: candidate ${fmt(primary.candidate)} vs champion ${fmt(primary.champion)} improves by ${fmt(primary.improvement)}, the policy asks for at least ${fmt(primary.required)}`,
    );
  }
  const guards = (input.gate.guards ?? []).map((g) => {
    const r = compare(g.metric, input.candidate, input.champion as GateNumbers, g.maxWorsening, true);
    if (!r.passed) {
      reasons.push(
        r.improvement === null
          ? `guard ${g.metric} is not known for both models (candidate ${fmt(r.candidate)}, champion ${fmt(r.champion)})`
          : `guard ${g.metric}: candidate ${fmt(r.candidate)} vs champion ${fmt(r.champion)} is worse by ${fmt(-r.improvement)}, at most ${fmt(g.maxWorsening)} allowed`,
      );
    }
    return { ...r, maxWorsening: g.maxWorsening };
  });
  return {
    passed: reasons.length === 0,
    noChampion: false,
    championVersion: input.championVersion,
    basis: input.basis,
    primary,
    guards,
    reasons,
  };
}
