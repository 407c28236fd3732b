/** The model registry's activities: register a model version, move an alias, read lineage both ways. */
import { Context } from '@temporalio/activity';
import type {
  ModelAliasEvent,
  ModelLineage,
  ModelsUsingQuery,
  ModelVersionRef,
  RegisterModelInput,
  RegisterModelResult,
  SetModelAliasInput,
  SetModelAliasResult,
} from '../../api/models';
import type { ActivityDeps } from '../deps';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { workerCodeVersion, type CodeVersion } from './codeVersion';
import { checkModelName, insertModelVersion, modelAliasHistory, modelLineage, modelsUsing, moveModelAlias } from './queries';

export type RegistryDeps = Pick<ActivityDeps, 'pool' | 'artifacts' | 'log'>;

/** The calling workflow's id and run id; a standalone activity is recorded under its activity id. */
function callerRun(): { workflowId: string; runId: string } {
  const info = Context.current().info;
  return { workflowId: info.workflowExecution?.workflowId ?? `activity:${info.activityId}`, runId: info.workflowExecution?.runId ?? '' };
}

export function createRegistryActivities(deps: RegistryDeps, options: { codeVersion?: CodeVersion } = {}) {
  // read at worker start, once: the code does not change under a running worker
  const code = options.codeVersion ?? workerCodeVersion();
  return {
    /**
     * Registers a model version in sluice.models: the next version of `name` (numbered under a
     * per-name lock), with its dataset, the worker's code version (commit + dirty flag), trainer,
     * parameters, seed, metrics, ONNX file and model card, and the producing workflow run. The ONNX
     * file (and the card, when given) must be in the artifact store with matching bytes before
     * the row is written, so no version points at a missing file. Idempotent: the same workflow
     * run registering the same ONNX file again gets its first version back (`created: false`).
     * Throws SLUICE_ARTIFACT_NOT_FOUND, SLUICE_ARTIFACT_CORRUPT, SLUICE_DATASET_NOT_FOUND (dataset
     * not registered) and SLUICE_INVALID_INPUT (bad name).
     */
    async registerModel(input: RegisterModelInput): Promise<RegisterModelResult> {
      checkModelName(input.name);
      await readVerifiedArtifact(deps.artifacts, input.onnxSha256, 'ONNX model');
      const onnx = await deps.artifacts.stat(input.onnxSha256);
      if (input.card) await readVerifiedArtifact(deps.artifacts, input.card.sha256, 'model card');
      const card = input.card ? await deps.artifacts.stat(input.card.sha256) : undefined;
      const caller = callerRun();
      const { version, created } = await insertModelVersion(deps.pool, {
        name: input.name,
        datasetId: input.datasetId,
        codeVersion: code.version,
        codeDirty: code.dirty,
        task: input.task,
        trainer: input.trainer.kind,
        parameters: input.trainer.parameters,
        seed: input.seed ?? null,
        metrics: input.metrics,
        // stat cannot miss after the verified read (the store never deletes); the fallback keeps the type honest
        onnxUri: onnx?.uri ?? `sha256:${input.onnxSha256}`,
        onnxSha256: input.onnxSha256,
        cardUri: input.card ? (card?.uri ?? input.card.uri ?? `sha256:${input.card.sha256}`) : null,
        cardSha256: input.card?.sha256 ?? null,
        workflowId: input.workflowId ?? caller.workflowId,
        runId: input.runId ?? caller.runId,
      });
      if (code.dirty)
        deps.log('registerModel: the worker runs code with uncommitted changes; the model records it', {
          name: input.name,
          version,
          code: code.version,
        });
      return {
        name: input.name,
        version,
        created,
        onnxUri: onnx?.uri ?? `sha256:${input.onnxSha256}`,
        codeVersion: code.version,
        codeDirty: code.dirty,
      };
    },

    /**
     * Points an alias (champion, challenger, any name) of a model at a version and appends the move
     * (previous version, actor, reason, workflow) to sluice.model_alias_events, in one transaction.
     * Idempotent: pointing it where it points already writes nothing (`changed: false`). Throws
     * SLUICE_UNKNOWN_MODEL (no such version) and SLUICE_INVALID_INPUT (bad name or alias).
     */
    async setModelAlias(input: SetModelAliasInput): Promise<SetModelAliasResult> {
      const caller = callerRun();
      return moveModelAlias(deps.pool, { ...input, workflowId: input.workflowId ?? caller.workflowId, runId: input.runId ?? caller.runId });
    },

    /** Lineage of `<model>@<version>` or `<model>@<alias>`. Read-only. Throws SLUICE_UNKNOWN_MODEL. */
    async describeModelLineage(ref: string): Promise<ModelLineage> {
      return modelLineage(deps.pool, ref);
    },

    /** The model versions that used a dataset, a log range (overlap) or a contract version. Read-only. */
    async findModelsUsing(query: ModelsUsingQuery): Promise<ModelVersionRef[]> {
      return modelsUsing(deps.pool, query);
    },

    /** Every move of a model's aliases, oldest first. Read-only. */
    async listModelAliasHistory(input: { name: string; alias?: string }): Promise<ModelAliasEvent[]> {
      return modelAliasHistory(deps.pool, input.name, input.alias);
    },
  };
}

export { readCodeVersion, workerCodeVersion, type CodeVersion } from './codeVersion';
export {
  listDatasets,
  listModels,
  modelAliasHistory,
  modelLineage,
  modelsUsing,
  resolveModelRef,
  MODEL_NAME_PATTERN,
  ALIAS_PATTERN,
} from './queries';
export type { DatasetListEntry, ModelListEntry } from './queries';
