/**
 * `deploy` and `rollback`: the only ways sluice changes what an endpoint serves, both under the
 * workflow id `deploy-<endpoint>` (one at a time per endpoint).
 *
 * deploy: prepare (candidate and champion exist, files intact, inputs match) → gate → approval
 * (Update approve/reject, durable expiry) → shadow (session opened, waited out, compared, always
 * ended) → promote (one transaction) → watch (accepts `rollback` for policy.watchSeconds). The
 * search attributes SluiceModel/SluiceStep/SluiceStatus follow each stage, so the Temporal UI can
 * list e.g. every deployment awaiting approval.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeployActivities, EvaluateActivities, InputCheckActivities, PreparedDeployment, Rescored } from '../activities';
import { ErrorCodes } from '../api/errors';
import { approveUpdate, deploymentStatusQuery, rejectUpdate, rollbackSignal, rollbackUpdate } from '../api/messages';
import { SluiceModel, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type {
  ApprovalDecision,
  ApprovalRequest,
  DeployInput,
  DeploymentState,
  DeployResult,
  DeployStatus,
  DeployStep,
  RollbackInput,
  RollbackRequest,
  RollbackResult,
} from '../api/workflows/deploy';
import { ACTIVITY_OPTIONS } from './activityOptions';

export type { DeployInput, DeployResult, RollbackInput, RollbackResult };

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const quick = proxyActivities<DeployActivities>(ACTIVITY_OPTIONS.dbQuick);
const steps = proxyActivities<DeployActivities>(ACTIVITY_OPTIONS.deployStep);
const shadowWait = proxyActivities<DeployActivities>(ACTIVITY_OPTIONS.shadowWait);
const scoring = proxyActivities<EvaluateActivities>(ACTIVITY_OPTIONS.evaluate);

const LATENCY_METRICS = new Set(['p50LatencyMs', 'p99LatencyMs']);

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function checkRequest(req: unknown, what: string): asserts req is ApprovalRequest {
  const r = (req ?? {}) as Partial<ApprovalRequest>;
  if (typeof r.who !== 'string' || r.who.trim() === '') refuse(ErrorCodes.InvalidInput, `${what} must say who decides (who is empty)`);
  if (typeof r.reason !== 'string' || r.reason.trim() === '')
    refuse(ErrorCodes.InvalidInput, `${what} must give a reason (reason is empty)`);
  if (r.who.length > 200 || r.reason.length > 2000) refuse(ErrorCodes.InvalidInput, `${what}: who is at most 200 characters, reason 2000`);
}

/**
 * Deploys `model@version` to `endpoint` through the policy's gates and returns how it ended:
 * promoted, rejected (gate, reviewer or shadow; with the numbers), expired (nobody decided in
 * time) or rolled-back (during the watch period). Side effects: shadow sessions, alias moves and
 * the endpoint row (all in the database, each notifying the scoring service), run events, memo;
 * a re-scoring gate also writes both models' metrics files and model cards to the artifact store.
 * Idempotent per run: every step is (a retried promotion finds the candidate champion and stops).
 * Throws SLUICE_UNKNOWN_MODEL, SLUICE_ARTIFACT_NOT_FOUND, SLUICE_ARTIFACT_CORRUPT,
 * SLUICE_SIGNATURE_MISMATCH, SLUICE_CHAMPION_MOVED, SLUICE_INVALID_INPUT; the champion is then unchanged.
 */
export async function deploy(input: DeployInput): Promise<DeployResult> {
  const { model, version, endpoint, policy } = input;
  const state: DeploymentState = { endpoint, model, version, status: 'running', step: 'gate' };
  const mark = (status: DeployStatus, step?: DeployStep): void => {
    state.status = status;
    if (step) state.step = step;
    upsertSearchAttributes([
      { key: SluiceStatus, value: status },
      { key: SluiceStep, value: state.step },
    ]);
  };
  upsertSearchAttributes([
    { key: SluiceModel, value: `${model}@${version}` },
    { key: SluiceStep, value: 'gate' },
    { key: SluiceStatus, value: 'running' },
  ]);
  setHandler(deploymentStatusQuery, () => state);

  let decision: ApprovalDecision | undefined;
  const approvalValidator = (what: string) => (req: ApprovalRequest) => {
    checkRequest(req, what);
    if (state.status === 'expired')
      refuse(ErrorCodes.DeployNotPending, `the approval request of ${model}@${version} on ${endpoint} has expired; deploy again`);
    if (state.status !== 'awaiting-approval' || decision)
      refuse(
        ErrorCodes.DeployNotPending,
        `the deployment of ${model}@${version} on ${endpoint} is not awaiting approval (status ${state.status}, step ${state.step})`,
      );
  };
  const decide =
    (kind: ApprovalDecision['decision']) =>
    (req: ApprovalRequest): ApprovalDecision => {
      decision = { decision: kind, who: req.who.trim(), reason: req.reason.trim(), at: new Date().toISOString() };
      return decision;
    };
  setHandler(approveUpdate, decide('approved'), { validator: approvalValidator('an approval') });
  setHandler(rejectUpdate, decide('rejected'), { validator: approvalValidator('a rejection') });

  let rolledBack: RollbackResult | undefined;
  let rollingBack: Promise<RollbackResult> | undefined;
  const rollbackValidator = (req: RollbackRequest): void => {
    if (typeof req?.who !== 'string' || req.who.trim() === '')
      refuse(ErrorCodes.InvalidInput, 'a rollback must say who asks for it (who is empty)');
    if (state.status !== 'promoted' || state.step !== 'watch')
      refuse(
        ErrorCodes.DeployNotPending,
        `the deployment of ${model}@${version} on ${endpoint} cannot roll back now (status ${state.status}, step ${state.step}); use \`sluice rollback ${endpoint}\` once it has ended`,
      );
  };
  const doRollback = (req: RollbackRequest): Promise<RollbackResult> => {
    // a second request while one runs gets the same answer, never a second step back
    rollingBack ??= steps.rollbackEndpoint({ endpoint, actor: req.who.trim(), reason: req.reason ?? '' }).then((r) => {
      rolledBack = r;
      mark('rolled-back');
      upsertMemo({ rollback: { ...r, who: req.who.trim(), reason: req.reason ?? '' } });
      return r;
    });
    return rollingBack;
  };
  setHandler(rollbackUpdate, doRollback, { validator: rollbackValidator });
  setHandler(rollbackSignal, (req) => {
    try {
      rollbackValidator(req);
    } catch {
      // a signal has no one to answer; the update form reports refusals
      return;
    }
    void doRollback(req);
  });

  const actor = input.actor ?? `workflow ${workflowInfo().workflowId}`;
  let championBefore: number | null = null;
  try {
    await check.checkWorkflowInput('deploy', input);
    const prepared = await quick.prepareDeployment({ model, version, endpoint });
    championBefore = prepared.champion?.version ?? null;
    const base = { endpoint, model, version, championBefore };

    // gate
    const rescored = await rescoreIfNeeded(prepared, input);
    const { runEventDetails: _g, ...gate } = await quick.gateCandidate({ prepared, gate: policy.gate, rescored });
    state.gate = gate;
    upsertMemo({ model: `${model}@${version}`, endpoint, gate });
    if (!gate.passed) {
      mark('rejected');
      return { ...base, status: 'rejected', championAfter: championBefore, gate };
    }

    // approval
    let approval: DeployResult['approval'];
    if (policy.approval?.required) {
      const timeoutMs = policy.approval.timeoutSeconds * 1000;
      state.approvalExpiresAt = new Date(new Date().getTime() + timeoutMs).toISOString();
      mark('awaiting-approval', 'approval');
      const decided = await condition(() => decision !== undefined, timeoutMs);
      if (!decided || !decision) {
        approval = { decision: 'expired', at: new Date().toISOString() };
        state.approval = approval;
        mark('expired');
        upsertMemo({ approval });
        await quick.recordApproval({ endpoint, model, version, decision: approval });
        return { ...base, status: 'expired', championAfter: championBefore, gate, approval };
      }
      approval = decision;
      state.approval = approval;
      upsertMemo({ approval });
      await quick.recordApproval({ endpoint, model, version, decision: approval });
      if (approval.decision === 'rejected') {
        mark('rejected');
        return { ...base, status: 'rejected', championAfter: championBefore, gate, approval };
      }
      mark('running');
    }

    // shadow: only against a champion (a first deploy has nothing to shadow)
    let shadow: DeployResult['shadow'];
    if (policy.shadow && prepared.champion) {
      mark('running', 'shadow');
      const p = policy.shadow;
      const session = await steps.openShadowSession({
        endpoint,
        candidateVersion: version,
        championVersion: prepared.champion.version,
        maxRequests: p.maxRequests,
        windowSeconds: p.windowSeconds,
      });
      upsertMemo({ shadowSession: session.sessionId });
      let outcome: 'completed' | 'cancelled' = 'cancelled';
      try {
        await shadowWait.awaitShadowSession({ endpoint, sessionId: session.sessionId, maxRequests: p.maxRequests, endsAt: session.endsAt });
        const { runEventDetails: _s, ...compared } = await quick.compareShadow({
          endpoint,
          sessionId: session.sessionId,
          task: prepared.candidate.task,
          policy: p,
        });
        outcome = 'completed';
        shadow = compared;
      } finally {
        // the session ends in every outcome, a cancelled workflow included
        await CancellationScope.nonCancellable(() => steps.endShadowSession({ sessionId: session.sessionId, outcome }));
      }
      state.shadow = shadow;
      upsertMemo({ shadow });
      if (!shadow.passed) {
        mark('rejected');
        return { ...base, status: 'rejected', championAfter: championBefore, gate, ...(approval ? { approval } : {}), shadow };
      }
    }

    // promote
    mark('running', 'promote');
    const promoted = await steps.promoteCandidate({
      model,
      version,
      endpoint,
      expectedChampion: championBefore,
      inputSchema: prepared.inputSchema,
      actor,
      reason: `deploy ${model}@${version}${input.reason ? `: ${input.reason}` : ''}`,
    });
    mark('promoted');
    upsertMemo({ promoted: { championBefore, championAfter: promoted.championAfter } });
    const result: DeployResult = {
      ...base,
      status: 'promoted',
      championAfter: promoted.championAfter,
      gate,
      ...(approval ? { approval } : {}),
      ...(shadow ? { shadow } : {}),
    };

    // watch: a rollback (signal or update) is accepted until it ends
    if ((policy.watchSeconds ?? 0) > 0) {
      mark('promoted', 'watch');
      await condition(() => rollingBack !== undefined, (policy.watchSeconds ?? 0) * 1000);
      if (rollingBack) await rollingBack;
    }
    await condition(allHandlersFinished);
    if (rolledBack) return { ...result, status: 'rolled-back', championAfter: rolledBack.to, rollback: rolledBack };
    return result;
  } catch (err) {
    mark('failed');
    throw err;
  }
}

/**
 * Both models on the candidate's test split, when the recorded metrics cannot be compared (other
 * datasets) or the gate needs latency (which only a measurement gives).
 */
async function rescoreIfNeeded(prepared: PreparedDeployment, input: DeployInput): Promise<Rescored | undefined> {
  const champion = prepared.champion;
  if (!champion) return undefined;
  const gate = input.policy.gate;
  const needsLatency = [gate.metric, ...(gate.guards ?? []).map((g) => g.metric)].some((m) => LATENCY_METRICS.has(m));
  if (champion.datasetId === prepared.candidate.datasetId && !needsLatency) return undefined;
  const testSplit = { arrowSha256: prepared.candidate.datasetId };
  const score = async (m: PreparedDeployment['candidate'], role: string) => {
    const r = await scoring.evaluateModel({
      onnxSha256: m.onnxSha256,
      testSplit,
      task: m.task,
      ...(m.task === 'regression' ? {} : { classes: m.classes }),
      modelName: `${input.model}@${m.version} (${role})`,
    });
    return { metrics: r.metrics, cost: r.cost };
  };
  return { candidate: await score(prepared.candidate, 'candidate'), champion: await score(champion, 'champion') };
}

/**
 * Restores an endpoint's previous champion (previous → champion, previous → the champion before it
 * in the alias history) in one transaction. Throws SLUICE_NO_PREVIOUS_CHAMPION when there is none,
 * SLUICE_INVALID_INPUT for an unknown endpoint; the champion is then unchanged.
 */
export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  upsertSearchAttributes([
    { key: SluiceStep, value: 'rollback' },
    { key: SluiceStatus, value: 'running' },
  ]);
  try {
    await check.checkWorkflowInput('rollback', input);
    const r = await steps.rollbackEndpoint(input);
    upsertSearchAttributes([
      { key: SluiceModel, value: `${r.model}@${r.to}` },
      { key: SluiceStatus, value: 'rolled-back' },
    ]);
    upsertMemo({ rollback: r, who: input.actor, reason: input.reason ?? '' });
    return r;
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw err;
  }
}
