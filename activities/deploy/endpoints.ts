/**
 * What an endpoint serves, changed only here: the first deploy creates the endpoint, a promotion
 * moves `champion` and `previous` together, a rollback moves them back, each in one transaction
 * that also appends the moves to sluice.model_alias_events and notifies the scoring service
 * (activities/serve/notify.ts, delivered on commit).
 */
import type { PoolClient } from 'pg';
import type { Pool } from 'pg';
import { ErrorCodes } from '../../api/errors';
import type { RollbackResult } from '../../api/workflows/deploy';
import { canonicalJson } from '../../contracts/canonical';
import { inTransaction } from '../../db/transaction';
import { SluiceError } from '../failures';
import { lockModelAlias, moveModelAliasIn } from '../registry/queries';
import { notifyEndpointChanged } from '../serve/notify';

export const CHAMPION = 'champion';
export const PREVIOUS = 'previous';
/** Alias moves of a rollback carry this reason prefix: the history walk tells promotions from rollbacks by it. */
export const ROLLBACK_REASON = 'rollback';

export interface EndpointRow {
  endpoint: string;
  modelName: string;
  inputSchema: Record<string, unknown>;
}

export async function findEndpoint(c: Pool | PoolClient, endpoint: string): Promise<EndpointRow | undefined> {
  const { rows } = await c.query<{ endpoint: string; model_name: string; input_schema: Record<string, unknown> }>(
    'SELECT endpoint, model_name, input_schema FROM sluice.endpoints WHERE endpoint = $1',
    [endpoint],
  );
  const r = rows[0];
  return r ? { endpoint: r.endpoint, modelName: r.model_name, inputSchema: r.input_schema } : undefined;
}

export async function aliasVersion(c: Pool | PoolClient, name: string, alias: string): Promise<number | null> {
  const { rows } = await c.query<{ version: number }>('SELECT version FROM sluice.model_aliases WHERE name = $1 AND alias = $2', [
    name,
    alias,
  ]);
  return rows[0]?.version ?? null;
}

interface Caller {
  actor: string;
  reason: string;
  workflowId: string;
  runId: string;
}

export interface PromoteInput extends Caller {
  model: string;
  version: number;
  endpoint: string;
  /** The champion the gate compared against (null: none); a different one now means someone else moved it. */
  expectedChampion: number | null;
  /** The candidate's row contract: the endpoint's, when this deploy creates it. */
  inputSchema: Record<string, unknown>;
}

export interface PromoteResult {
  championBefore: number | null;
  championAfter: number;
  /** false: the candidate was the champion already (a retried promotion that had committed). */
  changed: boolean;
  endpointCreated: boolean;
}

/**
 * champion → candidate and previous → the old champion, in one transaction, creating the endpoint
 * on its first deploy. Idempotent: when the candidate is the champion already (a retry after a
 * crash that had committed) nothing moves, `previous` included.
 */
export async function promoteOnEndpoint(pool: Pool, input: PromoteInput): Promise<PromoteResult> {
  return inTransaction(pool, async (c) => {
    // one order of locks for every transaction that moves both: champion, then previous
    await lockModelAlias(c, input.model, CHAMPION);
    await lockModelAlias(c, input.model, PREVIOUS);
    const created = await c.query(
      `INSERT INTO sluice.endpoints (endpoint, model_name, input_schema, created_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING`,
      [input.endpoint, input.model, JSON.stringify(input.inputSchema), input.workflowId],
    );
    const endpoint = await findEndpoint(c, input.endpoint);
    if (!endpoint || endpoint.modelName !== input.model)
      throw new SluiceError(
        ErrorCodes.InvalidInput,
        endpoint
          ? `endpoint ${input.endpoint} serves model ${endpoint.modelName}, not ${input.model}`
          : `model ${input.model} is served by another endpoint already (an endpoint serves one model, a model one endpoint)`,
      );
    if (canonicalJson(endpoint.inputSchema) !== canonicalJson(input.inputSchema))
      throw new SluiceError(
        ErrorCodes.SignatureMismatch,
        `${input.model}@${input.version} takes other inputs than endpoint ${input.endpoint} accepts; nothing was promoted`,
      );
    const current = await aliasVersion(c, input.model, CHAMPION);
    if (current === input.version) return { championBefore: current, championAfter: current, changed: false, endpointCreated: false };
    if (current !== input.expectedChampion)
      throw new SluiceError(
        ErrorCodes.ChampionMoved,
        `the champion of ${input.model} is ${current === null ? 'none' : `version ${current}`}, not ${
          input.expectedChampion === null ? 'none' : `version ${input.expectedChampion}`
        } as when the deployment was gated: another promotion or a rollback moved it; nothing was promoted, deploy again`,
      );
    const caller = { actor: input.actor, reason: input.reason, workflowId: input.workflowId, runId: input.runId };
    await moveModelAliasIn(c, { name: input.model, alias: CHAMPION, version: input.version, ...caller });
    if (current !== null) await moveModelAliasIn(c, { name: input.model, alias: PREVIOUS, version: current, ...caller });
    await notifyEndpointChanged(c, input.endpoint);
    return { championBefore: current, championAfter: input.version, changed: true, endpointCreated: (created.rowCount ?? 0) > 0 };
  });
}

/** The champion before `version` by the promotion history (the latest promotion to it, rollbacks skipped), or null. */
async function championBefore(c: PoolClient, name: string, version: number): Promise<number | null> {
  const { rows } = await c.query<{ previous_version: number | null }>(
    `SELECT previous_version FROM sluice.model_alias_events
      WHERE name = $1 AND alias = $2 AND version = $3 AND reason NOT LIKE $4
      ORDER BY id DESC LIMIT 1`,
    [name, CHAMPION, version, `${ROLLBACK_REASON}%`],
  );
  return rows[0]?.previous_version ?? null;
}

/**
 * previous → champion, and previous → the champion before it (itself when there is none, which
 * means "nothing further back"), in one transaction. A second rollback therefore goes one step
 * further back in the recorded history, never forth again; with nothing to go back to it refuses.
 * Idempotent per workflow run: a retry of a rollback that had committed returns what it did.
 */
export async function rollbackEndpoint(pool: Pool, endpointName: string, caller: Caller): Promise<RollbackResult> {
  return inTransaction(pool, async (c) => {
    const endpoint = await findEndpoint(c, endpointName);
    if (!endpoint) throw new SluiceError(ErrorCodes.InvalidInput, `endpoint ${endpointName} does not exist: nothing to roll back`);
    const model = endpoint.modelName;
    await lockModelAlias(c, model, CHAMPION);
    await lockModelAlias(c, model, PREVIOUS);
    const done = await c.query<{ version: number; previous_version: number }>(
      `SELECT version, previous_version FROM sluice.model_alias_events
        WHERE name = $1 AND alias = $2 AND workflow_id = $3 AND run_id = $4 AND reason LIKE $5 ORDER BY id DESC LIMIT 1`,
      [model, CHAMPION, caller.workflowId, caller.runId, `${ROLLBACK_REASON}%`],
    );
    if (done.rows[0] && caller.runId !== '') {
      return {
        endpoint: endpointName,
        model,
        from: done.rows[0].previous_version,
        to: done.rows[0].version,
        previous: (await aliasVersion(c, model, PREVIOUS)) ?? done.rows[0].version,
      };
    }
    const champion = await aliasVersion(c, model, CHAMPION);
    const previous = await aliasVersion(c, model, PREVIOUS);
    if (champion === null)
      throw new SluiceError(ErrorCodes.NoPreviousChampion, `endpoint ${endpointName} has no champion: nothing to roll back`);
    if (previous === null || previous === champion)
      throw new SluiceError(
        ErrorCodes.NoPreviousChampion,
        `endpoint ${endpointName} has no champion before ${model}@${champion} in its history: nothing to roll back to; the champion is unchanged`,
      );
    const further = await championBefore(c, model, previous);
    const moves = {
      actor: caller.actor,
      reason: `${ROLLBACK_REASON}: ${caller.reason || `from ${model}@${champion}`}`,
      workflowId: caller.workflowId,
      runId: caller.runId,
    };
    await moveModelAliasIn(c, { name: model, alias: CHAMPION, version: previous, ...moves });
    const nextPrevious = further ?? previous;
    await moveModelAliasIn(c, { name: model, alias: PREVIOUS, version: nextPrevious, ...moves });
    await notifyEndpointChanged(c, endpointName);
    return { endpoint: endpointName, model, from: champion, to: previous, previous: nextPrevious };
  });
}
