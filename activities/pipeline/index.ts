/**
 * The `pipeline` workflow's own activities: load an applied spec, catch up with ingestion, make a
 * spec's transform version registered and caught up, link artifacts for browsers, and record a
 * rerun. The steps' real work runs in the child workflows (validate, snapshot, train).
 */
import type { Pool } from 'pg';
import { ErrorCodes } from '../../api/errors';
import { ingestWorkflowId, transformWorkflowId } from '../../api/ids';
import { ingestStatusQuery } from '../../api/messages';
import type { PipelineSpec, PipelineStepName } from '../../api/workflows/pipeline';
import type { ActivityDeps } from '../deps';
import { SluiceError } from '../failures';
import { pause, withHeartbeat } from '../heartbeat';
import { registerTransformVersion } from '../transform/registry';
import { wakeTransform } from '../transform/wake';
import { artifactLinks } from './links';
import { getPipelineSpec } from './specs';

export { applyPipelineSpec, getPipelineSpec, listPipelineSpecs, type AppliedPipelineSpec, type PipelineSpecRow } from './specs';
export { artifactSignature, artifactSignatureMatches, artifactUrl, publicBaseUrl } from './links';

export interface LogRange {
  source: string;
  /** First and last `seq` of the source in the log when the run caught up; null when it has none. */
  fromSeq: string | null;
  toSeq: string | null;
}

export interface TransformCatchUp {
  name: string;
  version: number;
  /** Watermark of the version after the catch-up (decimal string). */
  watermark: string;
  rowsBehind: number;
}

/** A spec without its transforms' SQL text: what travels through the workflow history (the SQL stays in the database). */
function withoutSql(spec: PipelineSpec): PipelineSpec {
  if (!spec.transforms) return spec;
  return { ...spec, transforms: spec.transforms.map(({ sql: _sql, ...t }) => t) };
}

/**
 * How often a transform catch-up reads the watermark: the step ends at most this long after the
 * transform got there (two indexed lookups a poll), and the workflow's state is asked about once a
 * second.
 */
const CATCH_UP_POLL_MS = 50;
const DESCRIBE_EVERY_POLLS = 20;

async function watermarkOf(pool: Pool, name: string, version: number): Promise<bigint | null> {
  const { rows } = await pool.query<{ w: string | null }>(
    'SELECT min(last_seq)::text AS w FROM sluice.watermarks WHERE name = $1 AND version = $2',
    [name, version],
  );
  return rows[0]?.w == null ? null : BigInt(rows[0].w);
}

export function createPipelineActivities(deps: Pick<ActivityDeps, 'pool' | 'temporal' | 'config'>) {
  const acts = {
    /**
     * The applied spec of a pipeline version (sluice.pipeline_specs), without its SQL text. Read
     * only. Throws SLUICE_UNKNOWN_PIPELINE.
     */
    async loadPipelineSpec(input: { pipeline: string; version: number }): Promise<{ spec: PipelineSpec; sha256: string }> {
      const row = await getPipelineSpec(deps.pool, input.pipeline, input.version);
      return { spec: withoutSql(row.spec), sha256: row.sha256 };
    },

    /** The latest applied version of a pipeline (what an event-triggered run runs). Read only; SLUICE_UNKNOWN_PIPELINE. */
    async latestPipelineVersion(input: { pipeline: string }): Promise<{ version: number }> {
      const row = await getPipelineSpec(deps.pool, input.pipeline);
      return { version: row.version };
    },

    /**
     * Catch-up of ingestion for one source: waits until the source's long-lived ingest workflow
     * has no batch queued (batches sent before the run started are in the log), then returns the
     * source's log range as it stands: the range the run's later steps process. Read only;
     * heartbeats while it waits.
     */
    async catchUpIngest(input: { source: string }): Promise<LogRange & { runEventDetails: Record<string, unknown> }> {
      return withHeartbeat(async (hb) => {
        const handle = deps.temporal.workflow.getHandle(ingestWorkflowId(input.source));
        for (;;) {
          hb.checkCancelled();
          let queued = 0;
          try {
            const d = await handle.describe();
            if (d.status.name === 'RUNNING') queued = (await handle.query(ingestStatusQuery)).queued;
          } catch (err) {
            // No ingest workflow for the source yet: nothing is queued, the log is what there is.
            if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
          }
          hb.progress({ queued });
          if (queued === 0) break;
          await pause(500, hb.signal);
        }
        const { rows } = await deps.pool.query<{ from_seq: string | null; to_seq: string | null }>(
          'SELECT min(seq)::text AS from_seq, max(seq)::text AS to_seq FROM sluice.raw_events WHERE source = $1',
          [input.source],
        );
        const range = { source: input.source, fromSeq: rows[0]?.from_seq ?? null, toSeq: rows[0]?.to_seq ?? null };
        return { ...range, runEventDetails: { ...range } };
      });
    },

    /**
     * Makes a spec's transform version ready: registers it when the spec carries its SQL
     * (idempotent for identical SQL), checks it is registered otherwise, and wakes its incremental
     * workflow (signal-with-start). Throws SLUICE_UNKNOWN_TRANSFORM, SLUICE_INVALID_TRANSFORM,
     * SLUICE_TRANSFORM_VERSION_CONFLICT.
     */
    async prepareTransform(input: {
      pipeline: string;
      specVersion: number;
      transform: string;
    }): Promise<{ name: string; version: number; registered: boolean }> {
      const { spec } = await getPipelineSpec(deps.pool, input.pipeline, input.specVersion);
      const t = spec.transforms?.find((x) => x.name === input.transform);
      if (!t)
        throw new SluiceError(
          ErrorCodes.UnknownTransform,
          `pipeline ${input.pipeline} v${input.specVersion} has no transform ${input.transform}`,
        );
      let registered = false;
      if (t.sql !== undefined) {
        const r = await registerTransformVersion(deps.pool, {
          name: t.name,
          version: t.version,
          sources: t.sources ?? spec.sources.map((s) => s.source),
          sql: t.sql,
          ...(t.description === undefined ? {} : { description: t.description }),
        });
        registered = r.created;
      } else {
        const { rowCount } = await deps.pool.query('SELECT 1 FROM sluice.transforms WHERE name = $1 AND version = $2', [t.name, t.version]);
        if (!rowCount)
          throw new SluiceError(
            ErrorCodes.UnknownTransform,
            `transform ${t.name} v${t.version} (pipeline ${input.pipeline}, /transforms) is not registered and the spec has no sqlFile for it`,
          );
      }
      await wakeTransform(
        deps.temporal,
        deps.config.taskQueues.cpu,
        { transform: t.name },
        { source: '', fromSeq: '0', toSeq: '0', batchId: `pipeline-${input.pipeline}` },
      );
      return { name: t.name, version: t.version, registered };
    },

    /**
     * Waits until the transform's live version has consumed the log up to `untilSeq` (the end of
     * the ranges ingestion caught up to), heartbeating. Fails at once with SLUICE_INVALID_TRANSFORM
     * when the transform's workflow has failed, and when another version is live (a rebuild of this
     * one is a backfill, not a catch-up). Read only.
     */
    async awaitTransformCatchUp(input: { transform: string; version: number; untilSeq: string | null }): Promise<TransformCatchUp> {
      return withHeartbeat(async (hb) => {
        const until = input.untilSeq === null ? 0n : BigInt(input.untilSeq);
        const handle = deps.temporal.workflow.getHandle(transformWorkflowId(input.transform));
        for (let i = 0; ; i++) {
          hb.checkCancelled();
          const live = await deps.pool.query<{ version: number }>('SELECT version FROM sluice.transform_live WHERE name = $1', [
            input.transform,
          ]);
          const liveVersion = live.rows[0]?.version;
          if (liveVersion !== undefined && liveVersion !== input.version)
            throw new SluiceError(
              ErrorCodes.InvalidTransform,
              `transform ${input.transform}: v${liveVersion} is live, the pipeline asks for v${input.version} (rebuild it with a backfill, or change the spec)`,
            );
          const watermark = (await watermarkOf(deps.pool, input.transform, input.version)) ?? 0n;
          hb.progress({ watermark: watermark.toString(), until: until.toString() });
          if (watermark >= until) return { name: input.transform, version: input.version, watermark: watermark.toString(), rowsBehind: 0 };
          if (i % DESCRIBE_EVERY_POLLS === 0) {
            const d = await handle.describe();
            if (d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW')
              throw new SluiceError(
                ErrorCodes.InvalidTransform,
                `transform ${input.transform}: its workflow ${transformWorkflowId(input.transform)} is ${d.status.name.toLowerCase()} at watermark ${watermark} (needs ${until}); see its failure in the UI`,
              );
          }
          await pause(CATCH_UP_POLL_MS, hb.signal);
        }
      });
    },

    /**
     * prepareTransform, then awaitTransformCatchUp, in one activity (one server round trip for the
     * pipeline's transform step; a retry prepares again, which is idempotent). Same errors as the two.
     */
    async catchUpTransform(input: {
      pipeline: string;
      specVersion: number;
      transform: string;
      version: number;
      untilSeq: string | null;
    }): Promise<TransformCatchUp & { registered: boolean }> {
      const prepared = await acts.prepareTransform(input);
      return { ...(await acts.awaitTransformCatchUp(input)), registered: prepared.registered };
    },

    /** Browser links (signed, read-only) of artifacts by their sha256, for the memo and the status query. No side effects. */
    async linkArtifacts(input: Record<string, string>): Promise<Record<string, string>> {
      return artifactLinks(deps.config.httpIngest, input);
    },

    /** Records a rerun of a pipeline run (its run event carries the step and the reason). */
    async recordPipelineRerun(input: {
      pipeline: string;
      fromStep: PipelineStepName;
      reason: string;
      via: 'signal' | 'update';
      rerun: number;
    }): Promise<{ rerun: number; runEventDetails: Record<string, unknown> }> {
      return { rerun: input.rerun, runEventDetails: { ...input } };
    },
  };
  return acts;
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
