/**
 * The deploy step's activities: check a candidate against its endpoint, judge the gate, record an
 * approval, run a shadow session, promote, roll back. Every change of what an endpoint serves
 * happens in one transaction that notifies the scoring service.
 */
import { Context } from '@temporalio/activity';
import { ErrorCodes } from '../../api/errors';
import type { InferenceCost, ModelClassLabel, ModelMetrics, ModelTask } from '../../api/models';
import type { ApprovalDecision, DeployPolicy, GateResult, RollbackResult, ShadowComparison } from '../../api/workflows/deploy';
import { canonicalJson } from '../../contracts/canonical';
import type { ActivityDeps } from '../deps';
import { SluiceError } from '../failures';
import { pause, withHeartbeat } from '../heartbeat';
import { ModelSignatureError, readModelSignature, rowSchema, signatureMismatch, type ModelSignature } from '../onnx/signature';
import { checkModelName } from '../registry/queries';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { aliasVersion, CHAMPION, findEndpoint, promoteOnEndpoint, rollbackEndpoint, type PromoteResult } from './endpoints';
import { gateNumbers, judgeGate } from './gate';
import { compareShadow, countShadowed, endShadowSession, openShadowSession, type ShadowPolicy } from './shadow';

export type DeployDeps = Pick<ActivityDeps, 'pool' | 'artifacts' | 'log'>;

export interface DeployedModel {
  version: number;
  onnxSha256: string;
  datasetId: string;
  task: ModelTask;
  classes: ModelClassLabel[];
  metrics: Record<string, unknown>;
}

export interface PreparedDeployment {
  model: string;
  endpoint: string;
  candidate: DeployedModel;
  /** The endpoint's champion now (null: none yet). */
  champion: DeployedModel | null;
  endpointExists: boolean;
  /** JSON Schema of the candidate's request rows: the endpoint's contract. */
  inputSchema: Record<string, unknown>;
  runEventDetails: Record<string, unknown>;
}

/** What a re-scoring on the candidate's test split gave (the evaluate activity's result, the parts the gate reads). */
export interface Rescored {
  candidate: { metrics: ModelMetrics; cost: InferenceCost };
  champion: { metrics: ModelMetrics; cost: InferenceCost };
}

function callerRun(): { workflowId: string; runId: string } {
  const info = Context.current().info;
  return { workflowId: info.workflowExecution?.workflowId ?? `activity:${info.activityId}`, runId: info.workflowExecution?.runId ?? '' };
}

export function createDeployActivities(deps: DeployDeps) {
  const { pool } = deps;

  async function loadModel(name: string, version: number): Promise<{ model: DeployedModel; signature: ModelSignature }> {
    const { rows } = await pool.query<{
      onnx_sha256: string;
      dataset_id: string;
      task: ModelTask | null;
      metrics: Record<string, unknown>;
    }>('SELECT onnx_sha256, dataset_id, task, metrics FROM sluice.models WHERE name = $1 AND version = $2', [name, version]);
    const row = rows[0];
    if (!row) throw new SluiceError(ErrorCodes.UnknownModel, `model ${name}@${version} is not registered; nothing was deployed`);
    const onnx = await readVerifiedArtifact(deps.artifacts, row.onnx_sha256, `ONNX model of ${name}@${version}`);
    let signature: ModelSignature;
    try {
      signature = readModelSignature(onnx, `model ${name}@${version}`);
    } catch (err) {
      if (err instanceof ModelSignatureError) throw new SluiceError(ErrorCodes.InvalidInput, err.message);
      throw err;
    }
    return {
      model: {
        version,
        onnxSha256: row.onnx_sha256,
        datasetId: row.dataset_id,
        task: row.task ?? signature.task,
        classes: signature.classes,
        metrics: row.metrics,
      },
      signature,
    };
  }

  return {
    /**
     * Checks that `model@version` can be deployed to `endpoint`: registered (SLUICE_UNKNOWN_MODEL),
     * its ONNX file present and matching its sha256 (SLUICE_ARTIFACT_NOT_FOUND,
     * SLUICE_ARTIFACT_CORRUPT), its inputs those of the endpoint and its champion
     * (SLUICE_SIGNATURE_MISMATCH), the endpoint serving this model (SLUICE_INVALID_INPUT). Returns
     * the candidate and the champion. Read-only.
     */
    async prepareDeployment(input: { model: string; version: number; endpoint: string }): Promise<PreparedDeployment> {
      checkModelName(input.model);
      const candidate = await loadModel(input.model, input.version);
      const inputSchema = rowSchema(candidate.signature);
      const endpoint = await findEndpoint(pool, input.endpoint);
      if (endpoint && endpoint.modelName !== input.model)
        throw new SluiceError(ErrorCodes.InvalidInput, `endpoint ${input.endpoint} serves model ${endpoint.modelName}, not ${input.model}`);
      if (!endpoint) {
        const other = await pool.query<{ endpoint: string }>('SELECT endpoint FROM sluice.endpoints WHERE model_name = $1', [input.model]);
        if (other.rows[0])
          throw new SluiceError(
            ErrorCodes.InvalidInput,
            `model ${input.model} is served by endpoint ${other.rows[0].endpoint}; an endpoint serves one model and a model one endpoint`,
          );
      }
      const championVersion = await aliasVersion(pool, input.model, CHAMPION);
      const champion = endpoint && championVersion !== null ? await loadModel(input.model, championVersion) : null;
      const mismatch = champion ? signatureMismatch(champion.signature, candidate.signature) : undefined;
      if (mismatch)
        throw new SluiceError(
          ErrorCodes.SignatureMismatch,
          `${input.model}@${input.version} cannot serve endpoint ${input.endpoint} in place of ${input.model}@${championVersion}: ${mismatch}`,
        );
      if (endpoint && canonicalJson(endpoint.inputSchema) !== canonicalJson(inputSchema))
        throw new SluiceError(
          ErrorCodes.SignatureMismatch,
          `${input.model}@${input.version} takes other request rows than endpoint ${input.endpoint} accepts (its input contract): endpoint ${canonicalJson(endpoint.inputSchema)}, candidate ${canonicalJson(inputSchema)}`,
        );
      return {
        model: input.model,
        endpoint: input.endpoint,
        candidate: candidate.model,
        champion: champion?.model ?? null,
        endpointExists: endpoint !== undefined,
        inputSchema,
        runEventDetails: {
          candidate: { version: input.version, onnxSha256: candidate.model.onnxSha256, datasetId: candidate.model.datasetId },
          champion: champion ? { version: champion.model.version, datasetId: champion.model.datasetId } : null,
        },
      };
    },

    /**
     * The gate: the candidate must beat the champion on the policy's metric by its margin and not
     * be worse than allowed on any guard, from the recorded metrics (same dataset) or from both
     * models re-scored on the candidate's test split. No champion: passes, saying so. Pure.
     */
    async gateCandidate(input: {
      prepared: PreparedDeployment;
      gate: DeployPolicy['gate'];
      rescored?: Rescored;
    }): Promise<GateResult & { runEventDetails: Record<string, unknown> }> {
      const { prepared, rescored } = input;
      const result = judgeGate({
        gate: input.gate,
        championVersion: prepared.champion?.version ?? null,
        basis: prepared.champion === null ? 'no-champion' : rescored ? 'rescored' : 'recorded',
        candidate: rescored ? gateNumbers(rescored.candidate.metrics, rescored.candidate.cost) : gateNumbers(prepared.candidate.metrics),
        champion: prepared.champion
          ? rescored
            ? gateNumbers(rescored.champion.metrics, rescored.champion.cost)
            : gateNumbers(prepared.champion.metrics)
          : null,
      });
      return { ...result, runEventDetails: { gate: result } };
    },

    /** Records an approval decision (or its expiry) in the run events. */
    async recordApproval(input: {
      endpoint: string;
      model: string;
      version: number;
      decision: ApprovalDecision | { decision: 'expired'; at: string };
    }): Promise<{ runEventDetails: Record<string, unknown> }> {
      return { runEventDetails: { ...input } };
    },

    /**
     * Opens this workflow run's shadow session on the endpoint (the scoring service scores each
     * request with the candidate too) or finds the one it opened; notifies the scoring service.
     */
    async openShadowSession(input: {
      endpoint: string;
      candidateVersion: number;
      championVersion: number | null;
      maxRequests: number;
      windowSeconds: number;
    }): Promise<{ sessionId: string; endsAt: string; runEventDetails: Record<string, unknown> }> {
      const s = await openShadowSession(pool, { ...input, ...callerRun() });
      return {
        sessionId: s.sessionId,
        endsAt: s.endsAt,
        runEventDetails: { sessionId: s.sessionId, endsAt: s.endsAt, created: s.created },
      };
    },

    /**
     * Waits until the session has `maxRequests` shadowed predictions in the log or its window has
     * ended, polling every `pollMs` and heartbeating the count (a retry after a crash goes on
     * waiting; cancellation stops it). Read-only.
     */
    async awaitShadowSession(input: {
      endpoint: string;
      sessionId: string;
      maxRequests: number;
      endsAt: string;
      pollMs?: number;
    }): Promise<{ requests: number; windowEnded: boolean }> {
      const endsAt = Date.parse(input.endsAt);
      return withHeartbeat(async (hb) => {
        for (;;) {
          const requests = await countShadowed(pool, input.endpoint, input.sessionId);
          hb.progress({ requests, of: input.maxRequests });
          if (requests >= input.maxRequests) return { requests, windowEnded: false };
          if (Date.now() >= endsAt) return { requests, windowEnded: true };
          await pause(Math.min(input.pollMs ?? 1000, Math.max(0, endsAt - Date.now())), hb.signal);
          hb.checkCancelled();
        }
      });
    },

    /** Compares the champion's and the candidate's answers of the session (agreement, latency, labels) against the policy. Read-only. */
    async compareShadow(input: {
      endpoint: string;
      sessionId: string;
      task: ModelTask;
      policy: ShadowPolicy;
    }): Promise<ShadowComparison & { runEventDetails: Record<string, unknown> }> {
      const r = await compareShadow(pool, input);
      return { ...r, runEventDetails: { shadow: r } };
    },

    /** Appends the session's end (completed or cancelled) once; notifies the scoring service. Idempotent. */
    async endShadowSession(input: { sessionId: string; outcome: 'completed' | 'cancelled' }): Promise<{ ended: boolean }> {
      return endShadowSession(pool, input.sessionId, input.outcome);
    },

    /**
     * Promotes the candidate: champion → candidate, previous → the old champion, both appended to
     * the alias history with the workflow's ids, the endpoint created on its first deploy, the
     * scoring service notified, all in one transaction. Idempotent: a retry finds the candidate
     * champion already and moves nothing. Throws SLUICE_CHAMPION_MOVED when the champion is not
     * the one the gate compared against.
     */
    async promoteCandidate(input: {
      model: string;
      version: number;
      endpoint: string;
      expectedChampion: number | null;
      inputSchema: Record<string, unknown>;
      actor: string;
      reason: string;
    }): Promise<PromoteResult & { runEventDetails: Record<string, unknown> }> {
      return withHeartbeat(async () => {
        const r = await promoteOnEndpoint(pool, { ...input, ...callerRun() });
        return { ...r, runEventDetails: { endpoint: input.endpoint, model: input.model, ...r } };
      });
    },

    /**
     * Restores the endpoint's previous champion (see endpoints.ts rollbackEndpoint): one
     * transaction, idempotent per workflow run. Throws SLUICE_NO_PREVIOUS_CHAMPION when there is
     * nothing to go back to, SLUICE_INVALID_INPUT for an unknown endpoint.
     */
    async rollbackEndpoint(input: { endpoint: string; actor: string; reason?: string }): Promise<RollbackResult> {
      return rollbackEndpoint(pool, input.endpoint, { actor: input.actor, reason: input.reason ?? '', ...callerRun() });
    },
  };
}

export type DeployActivities = ReturnType<typeof createDeployActivities>;
export { promoteOnEndpoint, rollbackEndpoint, CHAMPION, PREVIOUS } from './endpoints';
export { judgeGate, gateNumbers, gateNeedsLatency } from './gate';
export { predictionSources } from './shadow';
